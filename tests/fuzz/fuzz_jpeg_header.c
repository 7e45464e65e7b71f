/* fuzz_jpeg_header.c - the ImageNet reader's decode path on one file's
 * bytes: PNG sniffing, the TurboJPEG header read, the decode (RGB, grey,
 * CMYK/YCCK -> RGB) and the antialiased resize + crop that imagenet.c
 * applies after it (here: to half size, cropped to at most 8x8). */
#include <stdint.h>
#include <stdlib.h>

#include "ds_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static void *dec;
    struct ds_rgb im;
    char err[1024];
    float out[3 * 8 * 8];
    int oh, ow;

    if (!dec && !(dec = ds_decoder_new())) abort();
    err[0] = '\0';
    if (ds_decode_rgb(dec, "fuzz.JPEG", data, size, size & 1 ? 64 : 0, size & 1 ? 48 : 0, &im, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
    if (im.w <= 0 || im.h <= 0 || !im.px) abort();
    oh = (im.h + 1) / 2;
    ow = (im.w + 1) / 2;
    (void)ds_resize_rgb(&im, oh, ow, 0, 0, oh < 8 ? oh : 8, ow < 8 ? ow : 8, out);
    free(im.px);
    return 0;
}
