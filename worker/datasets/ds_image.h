/* ds_image.h - image decoding and resizing for the lazily decoded datasets
 * (imagenet.c). Private to worker/datasets. */
#ifndef RECAL_DS_IMAGE_H
#define RECAL_DS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 8-bit RGB, interleaved, h rows of w*3 bytes; px malloc'd (caller frees). */
struct ds_rgb {
    int w, h;
    uint8_t *px;
};

/* A decoder (TurboJPEG handle): one per thread, not shareable. NULL on out of memory. */
void *ds_decoder_new(void);
void ds_decoder_free(void *dec);

/* Decode a JPEG (any colour space: grey and CMYK become RGB) or a PNG (found
 * by its signature, whatever the file is called) into out. path is only
 * named in messages. 0, or -1 with "path: corrupt JPEG: ..." in err. */
int ds_decode_rgb(void *dec, const char *path, const uint8_t *buf, size_t len, int min_w, int min_h, struct ds_rgb *out,
                  char *err, size_t errlen);

/* min_w, min_h > 0: a JPEG may come out smaller than stored, scaled by the
 * smallest of libjpeg-turbo's M/8 DCT factors that keeps it at least
 * min_w x min_h (the IDCT at reduced size; PNGs are always full size).
 * DS_DCT_MARGIN: how many times the resize target imagenet asks for. */
#define DS_DCT_MARGIN 2

/* The stored width and height of a JPEG (header only) or PNG (IHDR). 0, or
 * -1 when the header is unreadable (the decode then reports the error). */
int ds_image_size(void *dec, const uint8_t *buf, size_t len, int *w, int *h);

/* Antialiased bilinear resize of in (h x w RGB) to oh x ow, keeping only the
 * window [top, top+ch) x [left, left+cw) of the result, written as float
 * CHW (3 x ch x cw) on the 0..255 scale. The filter is PIL's / torch's
 * antialias=True bilinear (triangle of support max(scale, 1), weights
 * normalized per output pixel, align_corners=False). 0, or -1 on out of memory. */
int ds_resize_rgb(const struct ds_rgb *in, int oh, int ow, int top, int left, int ch, int cw, float *out);

#endif
