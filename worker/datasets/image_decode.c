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

static int decode_png(const char *path, const uint8_t *buf, size_t len, struct ds_rgb *out, char *err, size_t errlen) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, buf, len)) {
        ds_errf(err, errlen, "%s: corrupt PNG: %s", path, im.message);
        return -1;
    }
    if (too_big(path, im.width, im.height, err, errlen)) {
        png_image_free(&im);
        return -1;
    }
    /* Alpha is dropped as PIL's convert('RGB') does, not composited. */
    im.format = PNG_FORMAT_RGB;
    out->w = (int)im.width;
    out->h = (int)im.height;
    out->px = malloc(PNG_IMAGE_SIZE(im));
    if (!out->px) {
        png_image_free(&im);
        ds_errf(err, errlen, "%s: out of memory for a %ux%u image", path, im.width, im.height);
        return -1;
    }
    if (!png_image_finish_read(&im, NULL, out->px, 0, NULL)) {
        ds_errf(err, errlen, "%s: corrupt PNG: %s", path, im.message);
        free(out->px);
        out->px = NULL;
        return -1;
    }
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
