#!/usr/bin/python3
"""Write an ImageNet-layout set of real photographs for `recal bench --data`:
N crops (4:3, random position) of scikit-image's sample photos (astronaut,
coffee, chelsea, rocket; Debian's python3-skimage) resized to 500x375, the
typical ImageNet validation size, saved as quality-90 JPEGs in
OUT/val/n01440764/, plus OUT/decode.yaml (resize: 224) to bench with:

  tools/make_decode_set.py /tmp/decode && build/recal bench --data /tmp/decode/decode.yaml

usage: make_decode_set.py OUT [--count N] [--size WxH]"""
import argparse
import os

import numpy as np
import skimage.data
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--size", default="500x375")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    d = os.path.join(args.out, "val", "n01440764")
    os.makedirs(d, exist_ok=True)
    photos = [getattr(skimage.data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket")]
    rng = np.random.default_rng(0)
    for i in range(args.count):
        im = photos[i % len(photos)]
        ih, iw = im.shape[:2]
        ch, cw = min(ih, int(iw * h / w)), min(iw, int(ih * w / h))
        y, x = rng.integers(0, ih - ch + 1), rng.integers(0, iw - cw + 1)
        Image.fromarray(im[y:y + ch, x:x + cw]).resize((w, h), Image.BILINEAR).save(
            os.path.join(d, f"img{i:04d}.JPEG"), quality=90)
    with open(os.path.join(args.out, "decode.yaml"), "w") as f:
        f.write(f"name: decode\nmodel: {{path: unused.pt}}\n"
                f"dataset: {{name: imagenet, path: {os.path.abspath(args.out)}, split: val, resize: 224}}\n"
                "methods: [{name: random}]\n")
    print(f"wrote {args.count} JPEGs to {d} and {args.out}/decode.yaml")


if __name__ == "__main__":
    main()
