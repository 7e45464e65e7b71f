/* image_decode.c - one image file's bytes -> 8-bit RGB, interleaved (HWC).
 *
 * JPEG through TurboJPEG (libjpeg-turbo, the decoder PIL uses too, with the
 * same defaults: accurate integer DCT, fancy upsampling), so decoded pixels
 * match PIL's. ImageNet holds PNG files named .JPEG and CMYK JPEGs: the
 * first is sniffed by its signature and read with libpng; the second is
 * decoded as CMYK and converted here, since libjpeg has no CMYK -> RGB. */
#include "ds_image.h"
#include "ds_internal.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* PIL's decompression-bomb limit (2 * Image.MAX_IMAGE_PIXELS): the oracle
 * refuses larger images, and without a limit a 200-byte file declaring
 * 60000x60000 makes a worker allocate 10 GB before the decode finds the data
 * missing (found by tests/fuzz/fuzz_jpeg_header). */
#define DS_MAX_PIXELS 178956970ull

static int too_big(const char *path, unsigned long long w, unsigned long long h, char *err, size_t errlen) {
    if (w * h <= DS_MAX_PIXELS) return 0;
    ds_errf(err, errlen,
            "%s: %llux%llu pixels is over the %llu-pixel limit (PIL refuses it too, as a "
            "decompression bomb): remove the file from the dataset or shrink it",
            path, w, h, DS_MAX_PIXELS);
    return 1;
}

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* libpng reads from the file's bytes in memory; errors come back through
 * longjmp with libpng's text. */
struct png_mem {
    const uint8_t *p;
    size_t len, at;
    char msg[200];
};

static void png_mem_read(png_structp png, png_bytep out, size_t n) {
    struct png_mem *m = png_get_io_ptr(png);
    if (n > m->len - m->at) png_error(png, "the file ends early");
    memcpy(out, m->p + m->at, n);
    m->at += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    struct png_mem *m = png_get_error_ptr(png);
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png; /* PIL decodes through what libpng only warns about (e.g. a bad iCCP) */
    (void)msg;
}

/* The stored samples as PIL's Image.open(p).convert('RGB') hands them to
 * torchvision, not as a colour-managed viewer shows them: no gamma (gAMA,
 * sRGB and iCCP ignored), alpha dropped and tRNS ignored (not composited
 * over black, which moved an alpha-64 image's mean from 0.494 to 0.254),
 * palette looked up, 1/2/4-bit gray scaled to 0..255 (x255, x85, x17),
 * 16-bit colour to its high byte, and 16-bit gray with no alpha clipped to
 * 255 (PIL opens it as mode I and convert() clips: Pillow 9.4 and 13 alike). */
static void png_set_pil_transforms(png_structp png, png_infop info, int color, int depth) {
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && color != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
    /* palette_to_rgb also turns tRNS into an alpha channel: dropped too */
    if ((color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
        png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY_ALPHA || (color == PNG_COLOR_TYPE_GRAY && depth < 16)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
}

static int decode_png(const char *path, const uint8_t *buf, size_t len, struct ds_rgb *out, char *err, size_t errlen) {
    struct png_mem m = {buf, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &m, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile int big = 0;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        ds_errf(err, errlen, "%s: out of memory reading a PNG", path);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(img);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (!big) ds_errf(err, errlen, "%s: corrupt PNG: %s", path, m.msg);
        return -1;
    }
    png_set_read_fn(png, &m, png_mem_read);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color;
    png_get_IHDR(png, info, &w, &h, &depth, &color, NULL, NULL, NULL);
    if (too_big(path, w, h, err, errlen)) {
        big = 1;
        png_error(png, "too big");
    }
    const int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    png_set_pil_transforms(png, info, color, depth);
    png_read_update_info(png, info);
    const size_t rb = png_get_rowbytes(png, info);
    if (rb != (size_t)w * (gray16 ? 2 : 3)) png_error(png, "unexpected row layout after the RGB transforms");
    img = malloc(rb * h + (gray16 ? (size_t)w * h * 3 : 0));
    rows = malloc(h * sizeof *rows);
    if (!img || !rows) png_error(png, "out of memory for the image");
    for (png_uint_32 r = 0; r < h; r++) rows[r] = img + r * rb;
    png_read_image(png, rows);
    uint8_t *px = img;
    if (gray16) { /* big-endian samples, clipped as PIL's I -> RGB does */
        px = img + rb * h;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned v = (unsigned)img[2 * i] << 8 | img[2 * i + 1];
            px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (uint8_t)(v > 255 ? 255 : v);
        }
        memmove(img, px, (size_t)w * h * 3);
        px = img;
    }
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->w = (int)w;
    out->h = (int)h;
    out->px = px;
    return 0;
}

/* PIL's CMYK -> RGB: R = (255 - C)(255 - K)/255 with its rounding. Adobe
 * CMYK JPEGs (all that PIL and Photoshop write) store the inks inverted, so
 * the stored bytes are already 255 - C and 255 - K. */
static uint8_t mul255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* The smallest libjpeg-turbo scaling factor that keeps w x h at least
 * min_w x min_h (factors come sorted largest first). */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h) {
    tjscalingfactor best = {1, 1};
    int n = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&n);
    for (int i = 0; sf && i < n; i++) {
        if (sf[i].num > sf[i].denom) continue; /* upscaling */
        if (TJSCALED(w, sf[i]) >= min_w && TJSCALED(h, sf[i]) >= min_h &&
            (long)sf[i].num * best.denom < (long)best.num * sf[i].denom)
            best = sf[i];
    }
    return best;
}

static int decode_jpeg(void *tj, const char *path, const uint8_t *buf, size_t len, int min_w, int min_h,
                       struct ds_rgb *out, char *err, size_t errlen) {
    int w = 0, h = 0, sub, cs, cmyk;
    uint8_t *dst;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &sub, &cs) != 0) {
        ds_errf(err, errlen, "%s: not a readable JPEG or PNG: %s", path, tjGetErrorStr2(tj));
        return -1;
    }
    /* A tables-only stream (SOI, tables, EOI, no frame) is a success for
     * TurboJPEG that leaves width and height unset (found by fuzz_jpeg_header). */
    if (w <= 0 || h <= 0) {
        ds_errf(err, errlen, "%s: not a readable JPEG: no image frame in it", path);
        return -1;
    }
    if (too_big(path, (unsigned)w, (unsigned)h, err, errlen)) return -1;
    if (min_w > 0 && min_h > 0) {
        tjscalingfactor s = pick_scale(w, h, min_w, min_h);
        w = TJSCALED(w, s);
        h = TJSCALED(h, s);
    }
    cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    dst = malloc((size_t)w * (size_t)h * (cmyk ? 4 : 3));
    if (!dst) {
        ds_errf(err, errlen, "%s: out of memory for a %dx%d image", path, w, h);
        return -1;
    }
    if (tjDecompress2(tj, buf, (unsigned long)len, dst, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB, 0) != 0) {
        const char *msg = tjGetErrorStr2(tj);
        /* Warnings such as "extraneous bytes before marker" leave a whole
         * image and PIL accepts them; a file that ends early does not. */
        if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end")) {
            ds_errf(err, errlen, "%s: corrupt JPEG: %s", path, msg);
            free(dst);
            return -1;
        }
    }
    if (cmyk) {
        size_t n = (size_t)w * (size_t)h, i;
        for (i = 0; i < n; i++) {
            const uint8_t *p = dst + 4 * i;
            uint8_t r = mul255(p[0], p[3]), g = mul255(p[1], p[3]), b = mul255(p[2], p[3]);
            dst[3 * i] = r; /* in place: 3*i <= 4*i, and p is read first */
            dst[3 * i + 1] = g;
            dst[3 * i + 2] = b;
        }
    }
    out->w = w;
    out->h = h;
    out->px = dst;
    return 0;
}

void *ds_decoder_new(void) {
    return tjInitDecompress();
}

void ds_decoder_free(void *dec) {
    if (dec) tjDestroy(dec);
}

int ds_image_size(void *dec, const uint8_t *buf, size_t len, int *w, int *h) {
    if (len >= 24 && memcmp(buf, png_sig, sizeof png_sig) == 0) {
        /* IHDR is the first chunk: width and height big-endian at 16 and 20 */
        *w = (int)((uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19]);
        *h = (int)((uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23]);
        return *w > 0 && *h > 0 ? 0 : -1;
    }
    int sub, cs;
    *w = *h = 0; /* unset by TurboJPEG for a tables-only stream */
    return tjDecompressHeader3(dec, buf, (unsigned long)len, w, h, &sub, &cs) == 0 && *w > 0 && *h > 0 ? 0 : -1;
}

int ds_decode_rgb(void *dec, const char *path, const uint8_t *buf, size_t len, int min_w, int min_h, struct ds_rgb *out,
                  char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len >= sizeof png_sig && memcmp(buf, png_sig, sizeof png_sig) == 0)
        return decode_png(path, buf, len, out, err, errlen);
    if (len < 4) {
        ds_errf(err, errlen, "%s: %zu bytes is too short for an image", path, len);
        return -1;
    }
    return decode_jpeg(dec, path, buf, len, min_w, min_h, out, err, errlen);
}
