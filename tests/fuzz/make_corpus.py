#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): a few
tiny valid inputs per target, so libFuzzer starts from the formats' real
structure instead of discovering magic numbers. Deterministic; rerun after
changing it and commit the result. Needs numpy and PIL (python3-numpy,
python3-pil)."""
import gzip
import io
import os
import struct
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def job_yaml():
    # The shipped configs: every key the parser knows, in real shapes.
    for name in ("fashion-mnist.yaml", "fashion-mnist-robustness.yaml", "cifar10-roar.yaml"):
        with open(os.path.join(HERE, "..", "..", "configs", name), "rb") as f:
            put("fuzz_job_yaml", "config-" + name, f.read())
    put("fuzz_job_yaml", "minimal.yaml", b"""dataset: {name: fashion-mnist, path: /nonexistent, split: test}
model: {path: /nonexistent/m.pt}
methods:
  - {name: Saliency}
  - {name: IG-Uniform, estimator: riemann, steps: 8}
metrics: [sensitivity-n]
""")
    put("fuzz_job_yaml", "sweep.yaml", b"""dataset:
  name: cifar10
  path: /data/cifar
model: {path: m.pt, input: [3, 32, 32], classes: 10}
methods:
  - name: SmoothGrad
    samples: 4
    sigma: 0.15
shard_images: 64
batch_size: 16
seed: 3
outputs: {attributions: true, masks: false}
sweep:
  seed: [1, 2]
  batch_size: [8, 16]
#set methods[0].samples=8
""")
    put("fuzz_job_yaml", "anchors.yaml", b"a: &x [1, 2]\nb: *x\nc: !!str 3\nd: {? e : f}\n'g': \"h\\u00e9\"\n")
    put("fuzz_job_yaml", "flow.yaml", b"{dataset: {name: npy}, methods: [{name: Random}], metrics: [faithfulness, infidelity, lipschitz, max-sensitivity, roar]}\n")


def idx():
    rng = np.random.default_rng(0)
    n = 3
    img = struct.pack(">IIII", 0x803, n, 4, 4) + rng.integers(0, 256, n * 16, dtype=np.uint8).tobytes()
    lab = struct.pack(">II", 0x801, n) + bytes([1, 9, 0])
    cut = struct.pack("<H", len(img))
    put("fuzz_idx", "plain", cut + img + lab)
    # zlib's gzread passes plain files through; a gzip'd images file takes
    # the inflate path (mtime 0 keeps the bytes reproducible).
    gz = gzip.compress(img, mtime=0)
    put("fuzz_idx", "gzip_images", struct.pack("<H", len(gz)) + gz + lab)
    put("fuzz_idx", "count_mismatch", cut + img + struct.pack(">II", 0x801, 2) + bytes([1, 2]))


def cifar():
    # First byte: bit 0 CIFAR-100, bit 1 coarse labels, bits 2..3 records
    # in the batch minus 1 (see fuzz_cifar.c); then the file.
    pix = bytes(range(256)) * 12
    put("fuzz_cifar", "c10_one", bytes([0x00, 3]) + pix)
    put("fuzz_cifar", "c100_fine_two", bytes([0x01 | 1 << 2]) + (bytes([4, 77]) + pix) * 2)
    put("fuzz_cifar", "c100_coarse_short", bytes([0x03]) + bytes([19, 99]) + pix[:100])


def npy():
    arrays = {
        "f32_2d.npy": np.arange(6, dtype="<f4").reshape(2, 3),
        "u8_4d.npy": np.arange(24, dtype=np.uint8).reshape(2, 1, 3, 4),
        "i64_1d.npy": np.array([0, 9, 3], dtype="<i8"),
        "f16.npy": np.array([0.5, -2.0, np.inf], dtype="<f2"),
        "f64_0d.npy": np.array(1.25, dtype="<f8"),
        "i32.npy": np.array([[1, 2]], dtype="<i4"),
        "u16.npy": np.array([65535, 0], dtype="<u2"),
    }
    for name, a in arrays.items():
        b = io.BytesIO()
        np.save(b, a)
        put("fuzz_npy", name, b.getvalue())


def jpeg_header():
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), "RGB")
    out = {
        "rgb.jpg": (rgb, "JPEG", {"quality": 90}),
        "rgb_420_progressive.jpg": (rgb, "JPEG", {"progressive": True, "subsampling": 2}),
        "grey.jpg": (rgb.convert("L"), "JPEG", {}),
        "cmyk.jpg": (rgb.convert("CMYK"), "JPEG", {}),
        "rgb.png": (rgb, "PNG", {}),
        "rgba.png": (rgb.convert("RGBA"), "PNG", {}),
        "grey16.png": (Image.fromarray(np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000), "PNG", {}),
        "palette.png": (rgb.convert("P"), "PNG", {}),
    }
    for name, (im, fmt, kw) in out.items():
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        put("fuzz_jpeg_header", name, b.getvalue())


if __name__ == "__main__":
    job_yaml()
    idx()
    cifar()
    npy()
    jpeg_header()
    sys.exit(0)
