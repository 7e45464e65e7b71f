#!/usr/bin/python3
"""Dataset reader oracle (issue #5): generate small CIFAR-10, CIFAR-100, npy
and ImageNet directories here, read them through `recal dataset-dump` (what
ds_get hands the engine) and compare with what numpy, PIL and PyTorch make
of the same files, independently of recal's code:

- CIFAR: records parsed with numpy from the published layout, normalized
  with the published mean/std;
- ImageNet: PIL decodes (convert('RGB'): grey, CMYK, progressive, a PNG
  named .JPEG), torch.nn.functional.interpolate(bilinear, antialias=True)
  resizes (torchvision's Resize(256) + CenterCrop(224) geometry for
  resize/crop), normalized with ImageNet's mean/std;
- PNG kinds PIL writes and ones only a raw writer here makes (RGBA with
  varying alpha, LA, palette with tRNS, 1/2/4-bit gray and palette,
  16-bit gray/RGB/RGBA/LA, Adam7-interlaced, gAMA, tRNS on RGB and gray):
  PIL's convert('RGB') drops alpha and ignores tRNS and gamma, takes a
  16-bit colour sample's high byte and clips 16-bit gray at 255;
- a truncated JPEG: on_error fail -> exit 1 naming the file; skip -> zeros,
  label -1, the file reported;
- dataset.dct_scaling: images under twice the resize target stay exact, a
  larger one (decoded at a reduced size in the DCT domain) stays within a
  gray level on average.

The ImageNet files are cut from a real photograph (matplotlib's sample
grace_hopper.jpg, shipped by Debian's matplotlib-data, a dependency of
python3-matplotlib), re-encoded by PIL in each size and kind, plus the
photograph's own file as written by its camera-side encoder.

usage: check_datasets.py RECAL WORK_DIR"""
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

TOL_EXACT = 1e-5   # uint8 -> float normalization only
TOL_RESIZE = 1e-5  # decode + resize + normalize, normalized units; measured worst ~1.1e-6 (float32 sums)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float64)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float64)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def config(work, name, body):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write("model: {path: unused.pt}\nmethods: [{name: random}]\ndataset:\n" + body)
    return path


def dump(recal, cfg, work, *sets, expect_rc=0):
    x, y = os.path.join(work, "x.npy"), os.path.join(work, "y.npy")
    cmd = [recal, "dataset-dump", cfg, "--out", x, "--labels", y, "--batch", "5"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect_rc:
        print(p.stdout, p.stderr)
        check(False, f"recal dataset-dump {os.path.basename(cfg)} {sets}: exit {p.returncode}, want {expect_rc}")
        return None, None, None, p
    if expect_rc:
        return None, None, None, p
    return np.load(x), np.load(y), json.loads(p.stdout), p


def cifar(recal, work):
    rng = np.random.default_rng(1)
    # CIFAR-10: test_batch.bin, 10000 records of 1 + 3072 bytes.
    d10 = os.path.join(work, "cifar-10-batches-bin")
    os.makedirs(d10, exist_ok=True)
    rec = rng.integers(0, 256, (10000, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, 10000)
    rec.tofile(os.path.join(d10, "test_batch.bin"))
    x, y, meta, _ = dump(recal, config(work, "c10", f"  name: cifar10\n  path: {d10}\n  limit: 37\n"), work)
    if x is not None:
        mean = np.array([0.4914, 0.4822, 0.4465])[:, None, None]
        std = np.array([0.2471, 0.2435, 0.2616])[:, None, None]
        want = (rec[:37, 1:].reshape(37, 3, 32, 32) / 255.0 - mean) / std
        err = np.abs(x - want).max()
        check(x.shape == (37, 3, 32, 32) and err < TOL_EXACT, f"cifar10 pixels: max |diff| {err:.2e}")
        check((y == rec[:37, 0]).all() and meta["classes"] == 10, "cifar10 labels")
    # CIFAR-100: test.bin, 10000 records of coarse + fine + 3072 bytes.
    d100 = os.path.join(work, "cifar-100-binary")
    os.makedirs(d100, exist_ok=True)
    rec = rng.integers(0, 256, (10000, 3074), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 20, 10000)
    rec[:, 1] = rng.integers(0, 100, 10000)
    rec.tofile(os.path.join(d100, "test.bin"))
    cfg = config(work, "c100", f"  name: cifar100\n  path: {d100}\n  limit: 23\n")
    x, y, meta, _ = dump(recal, cfg, work)
    if x is not None:
        mean = np.array([0.5071, 0.4865, 0.4409])[:, None, None]
        std = np.array([0.2673, 0.2564, 0.2762])[:, None, None]
        want = (rec[:23, 2:].reshape(23, 3, 32, 32) / 255.0 - mean) / std
        err = np.abs(x - want).max()
        check(err < TOL_EXACT, f"cifar100 pixels: max |diff| {err:.2e}")
        check((y == rec[:23, 1]).all() and meta["classes"] == 100, "cifar100 fine labels")
    x, y, meta, _ = dump(recal, cfg, work, "dataset.label=coarse")
    if x is not None:
        check((y == rec[:23, 0]).all() and meta["classes"] == 20, "cifar100 coarse labels")
    # A truncated copy: the error names the file and the record.
    with open(os.path.join(d100, "test.bin"), "r+b") as f:
        f.truncate(10000 * 3074 - 1)
    _, _, _, p = dump(recal, cfg, work, expect_rc=1)
    check("test.bin" in p.stderr and "record 9999" in p.stderr, "cifar100 truncated: " + p.stderr.strip()[:160])


def npy(recal, work):
    rng = np.random.default_rng(2)
    d = os.path.join(work, "npy")
    os.makedirs(d, exist_ok=True)
    img = rng.integers(0, 256, (9, 20, 18, 3), dtype=np.uint8)  # N x H x W x C
    lab = rng.integers(0, 6, 9).astype(np.int32)
    lab[0] = 6
    np.save(os.path.join(d, "images.npy"), img)
    np.save(os.path.join(d, "labels.npy"), lab)
    fimg = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.save(os.path.join(d, "images-train.npy"), fimg)
    np.save(os.path.join(d, "labels-train.npy"), np.array([3, 1, 0, 2], np.uint8))
    cfg = config(work, "npy", f"  name: npy\n  path: {d}\n  mean: [0.5, 0.4, 0.3]\n  std: [0.2, 0.25, 0.3]\n")
    x, y, meta, _ = dump(recal, cfg, work)
    if x is not None:
        want = (img.transpose(0, 3, 1, 2) / 255.0 - np.array([0.5, 0.4, 0.3])[:, None, None]) / \
            np.array([0.2, 0.25, 0.3])[:, None, None]
        err = np.abs(x - want).max()
        check(err < TOL_EXACT, f"npy uint8 NHWC with mean/std: max |diff| {err:.2e}")
        check((y == lab).all() and meta["classes"] == 7, "npy labels, classes = max + 1")
    x, y, meta, _ = dump(recal, config(work, "npyt", f"  name: npy\n  path: {d}\n  split: train\n  classes: 10\n"),
                         work)
    if x is not None:
        check(np.array_equal(x, fimg) and (y == [3, 1, 0, 2]).all() and meta["classes"] == 10,
              "npy float32 NCHW used as stored (train split)")


REAL_PHOTO = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"


def make_images(root):
    """ImageNet-like files of different sizes and kinds, written by PIL from
    crops of a real photograph (synthetic content only if it is missing)."""
    rng = np.random.default_rng(3)
    src = Image.open(REAL_PHOTO).convert("RGB") if os.path.exists(REAL_PHOTO) else None
    print("imagenet test images from " + (REAL_PHOTO if src else "synthetic gradients (no real photo found)"))

    def photo(w, h):
        if src is not None:  # a random crop of the photo at this size: real edges and texture
            cw, ch = int(src.width * rng.uniform(0.6, 1)), int(src.height * rng.uniform(0.6, 1))
            x0, y0 = int(rng.integers(0, src.width - cw + 1)), int(rng.integers(0, src.height - ch + 1))
            return src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.LANCZOS)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
        return Image.fromarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))

    files = {
        "n01440764": [("a_500x375.JPEG", lambda f: photo(500, 375).save(f, "JPEG", quality=90)),
                      ("b_375x500.JPEG", lambda f: photo(375, 500).save(f, "JPEG", quality=85)),
                      ("c_gray.JPEG", lambda f: photo(320, 240).convert("L").save(f, "JPEG")),
                      ("d_cmyk.JPEG", lambda f: photo(300, 260).convert("CMYK").save(f, "JPEG"))],
        "n01443537": [("e_progressive.JPEG", lambda f: photo(410, 333).save(f, "JPEG", progressive=True)),
                      ("f_png.JPEG", lambda f: photo(257, 199).save(f, "PNG")),
                      ("g_small_100x80.JPEG", lambda f: photo(100, 80).save(f, "JPEG")),
                      ("h_444.JPEG", lambda f: photo(640, 480).save(f, "JPEG", subsampling=0))],
        "n01484850": [("i_wide_800x200.JPEG", lambda f: photo(800, 200).save(f, "JPEG")),
                      ("j_224.JPEG", lambda f: photo(224, 224).save(f, "JPEG")),
                      ("k_odd_333x301.JPEG", lambda f: photo(333, 301).save(f, "JPEG", quality=70)),
                      ("l_1024x768.JPEG", lambda f: photo(1024, 768).save(f, "JPEG"))],
    }
    if src is not None:  # the photograph's own bytes, not PIL's encoder
        files["n01484850"].append(("m_real_photo.JPEG", lambda f: shutil.copy(REAL_PHOTO, f)))
    out = []
    for c, (wnid, items) in enumerate(sorted(files.items())):
        os.makedirs(os.path.join(root, wnid), exist_ok=True)
        for name, write in sorted(items):
            path = os.path.join(root, wnid, name)
            write(path)
            out.append((path, c))
    return out


def oracle(path, resize, crop):
    img = Image.open(path).convert("RGB")
    t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].double()
    w, h = img.size
    if not crop:
        size = (resize, resize)
    elif h <= w:  # torchvision Resize(int): shorter side to resize, longer truncated
        size = (resize, int(resize * w / h))
    else:
        size = (int(resize * h / w), resize)
    r = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    if crop:  # torchvision CenterCrop
        top, left = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
        r = r[:, top:top + crop, left:left + crop]
    r = r.numpy()
    return (r / 255.0 - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]


def raw_png(samples, color, depth, palette=None, trns=None, gamma=None, interlace=False):
    """PNG bytes written here from the specification, for the kinds PIL does
    not write (16-bit colour, 2/4-bit, Adam7): samples is H x W x channels
    (palette indices for colour type 3); filter 0 on every row."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

    def rows(a):
        out = b""
        for r in a:
            if depth < 8:
                bits = np.unpackbits(r.reshape(-1, 1).astype(np.uint8), axis=1)[:, 8 - depth:].reshape(-1)
                out += b"\0" + np.packbits(bits).tobytes()
            else:
                out += b"\0" + r.reshape(-1).astype(">u2" if depth == 16 else np.uint8).tobytes()
        return out

    h, w = samples.shape[:2]
    if interlace:  # Adam7: seven passes over sub-grids
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
        raw = b"".join(rows(samples[y0::dy, x0::dx]) for x0, y0, dx, dy in passes
                       if samples[y0::dy, x0::dx].size)
    else:
        raw = rows(samples)
    head = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0)
    extra = b""
    if gamma is not None:
        extra += chunk(b"gAMA", struct.pack(">I", gamma))
    if palette is not None:
        extra += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        extra += chunk(b"tRNS", trns)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + extra + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


def png_kinds(recal, work):
    """Every PNG kind through recal and through PIL's convert('RGB'); a
    resize of these square images to their own size is the identity, so the decode alone is
    compared (PNG is lossless: no rounding to allow for)."""
    root = os.path.join(work, "imagenet-png")
    shutil.rmtree(root, ignore_errors=True)
    d = os.path.join(root, "val", "n00000001")
    os.makedirs(d)
    rng = np.random.default_rng(5)
    src = Image.open(REAL_PHOTO).convert("RGB").resize((32, 32)) if os.path.exists(REAL_PHOTO) else \
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    rgb = np.asarray(src)
    gray = np.asarray(src.convert("L"))
    alpha = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    alpha[:5] = 64
    pal = rng.integers(0, 256, (16, 3))
    idx4 = rng.integers(0, 16, (32, 32, 1))
    g16 = rng.integers(0, 700, (32, 32, 1))  # PIL clips gray above 255: both sides
    c16 = rng.integers(0, 65536, (32, 32, 4))
    pil = {"rgba.png": lambda f: Image.fromarray(np.dstack([rgb, alpha])).save(f),
           "la.png": lambda f: Image.fromarray(np.dstack([gray, alpha]), "LA").save(f),
           "p_trns.png": lambda f: src.quantize(64).save(f, transparency=3),
           "gray1.png": lambda f: src.convert("1").save(f)}
    raw = {"gray2.png": raw_png(rng.integers(0, 4, (32, 32, 1)), 0, 2),
           "gray4.png": raw_png(rng.integers(0, 16, (32, 32, 1)), 0, 4),
           "pal4_trns.png": raw_png(idx4, 3, 4, pal, trns=bytes(range(0, 160, 10))),
           "pal2_adam7.png": raw_png(idx4 % 4, 3, 2, pal[:4], interlace=True),
           "gray16.png": raw_png(g16, 0, 16),
           "la16.png": raw_png(c16[..., :2], 4, 16),
           "rgb16.png": raw_png(c16[..., :3], 2, 16),
           "rgba16_adam7.png": raw_png(c16, 6, 16, interlace=True),
           "rgb_adam7.png": raw_png(rgb, 2, 8, interlace=True),
           "rgb_gama_trns.png": raw_png(rgb, 2, 8, gamma=100000, trns=bytes(6)),
           "gray_trns.png": raw_png(gray[..., None], 0, 8, trns=bytes(2))}
    for name, write in pil.items():
        write(os.path.join(d, name))
    for name, data in raw.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    names = sorted(list(pil) + list(raw))
    cfg = config(work, "png", f"  name: imagenet\n  path: {root}\n")
    x, _, _, _ = dump(recal, cfg, work, "dataset.resize=32")
    if x is None:
        return
    for i, name in enumerate(names):
        want = np.asarray(Image.open(os.path.join(d, name)).convert("RGB")).transpose(2, 0, 1) / 255.0
        want = (want - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
        err = float(np.abs(x[i] - want).max())
        check(err < TOL_EXACT, f"png {name} ({Image.open(os.path.join(d, name)).mode}) as PIL's convert('RGB'): "
              f"max |diff| {err:.2e}")


def imagenet(recal, work):
    root = os.path.join(work, "imagenet")
    shutil.rmtree(root, ignore_errors=True)
    items = make_images(os.path.join(root, "val"))
    cfg = config(work, "inet", f"  name: imagenet\n  path: {root}\n  threads: 2\n")
    for resize, crop in ((224, 0), (256, 224)):
        sets = [f"dataset.resize={resize}"] + ([f"dataset.crop={crop}"] if crop else [])
        x, y, meta, _ = dump(recal, cfg, work, *sets)
        if x is None:
            continue
        check(x.shape == (len(items), 3, 224, 224) and meta["classes"] == 3, f"imagenet shape {x.shape}")
        check((y == [c for _, c in items]).all(), "imagenet ImageFolder labels (sorted wnids)")
        worst = 0.0
        for i, (path, _) in enumerate(items):
            err = float(np.abs(x[i] - oracle(path, resize, crop)).max())
            worst = max(worst, err)
            check(err < TOL_RESIZE, f"imagenet resize {resize} crop {crop} {os.path.basename(path)}: "
                  f"max |diff| {err:.2e}")
        print(f"imagenet resize {resize} crop {crop}: worst max |diff| {worst:.2e} (normalized units)")
        dct_scaling(recal, cfg, work, items, resize, crop, sets)

    # Layout (b): flat val/ + LOC_val_solution.csv, classes from sorted wnids
    # or from LOC_synset_mapping.txt.
    flat = os.path.join(work, "imagenet-flat")
    shutil.rmtree(flat, ignore_errors=True)
    os.makedirs(os.path.join(flat, "val"))
    wnids = ["n03000134", "n01440764", "n02102040", "n01440764", "n03000134"]
    with open(os.path.join(flat, "LOC_val_solution.csv"), "w") as f:
        f.write("ImageId,PredictionString\n")
        for i, w in enumerate(wnids):
            f.write(f"ILSVRC2012_val_{i + 1:08d},{w} 1 2 30 40 {w} 5 6 70 80 \n")
    for i in range(len(wnids)):
        shutil.copy(items[i][0], os.path.join(flat, "val", f"ILSVRC2012_val_{i + 1:08d}.JPEG"))
    cfgf = config(work, "flat", f"  name: imagenet\n  path: {flat}\n  split: val\n")
    x, y, meta, _ = dump(recal, cfgf, work)
    if x is not None:
        srt = sorted(set(wnids))
        check(list(y) == [srt.index(w) for w in wnids] and meta["classes"] == 3,
              f"imagenet flat + LOC_val_solution.csv labels {list(y)}")
        err = float(np.abs(x[2] - oracle(items[2][0], 224, 0)).max())
        check(err < TOL_RESIZE, f"imagenet flat pixels: max |diff| {err:.2e}")
    mapping = ["n01440764 tench", "n01443537 goldfish", "n02102040 springer", "n03000134 fence"]
    with open(os.path.join(flat, "LOC_synset_mapping.txt"), "w") as f:
        f.write("\n".join(mapping) + "\n")
    x, y, meta, _ = dump(recal, cfgf, work)
    if x is not None:
        order = [m.split()[0] for m in mapping]
        check(list(y) == [order.index(w) for w in wnids] and meta["classes"] == 4,
              f"imagenet flat labels from LOC_synset_mapping.txt {list(y)}")

    # A truncated JPEG among good ones.
    bad = os.path.join(work, "imagenet-bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(os.path.join(bad, "val", "n01440764"))
    for k in range(3):
        shutil.copy(items[k][0], os.path.join(bad, "val", "n01440764", f"img{k}.JPEG"))
    victim = os.path.join(bad, "val", "n01440764", "img1.JPEG")
    data = open(victim, "rb").read()
    open(victim, "wb").write(data[:len(data) // 2])
    cfgb = config(work, "bad", f"  name: imagenet\n  path: {bad}\n")
    _, _, _, p = dump(recal, cfgb, work, expect_rc=1)
    check(victim in p.stderr and "corrupt" in p.stderr, "on_error fail names the file: " + p.stderr.strip()[:200])
    x, y, meta, p = dump(recal, cfgb, work, "dataset.on_error=skip")
    if x is not None:
        check(meta["skipped"] == 1 and meta["skipped_files"] == [victim], f"on_error skip reports {meta['skipped_files']}")
        check(list(y) == [0, -1, 0] and not x[1].any() and x[0].any() and x[2].any(),
              "on_error skip: zeros and label -1 for the bad image only")
    run_skip(recal, work, bad)

    # A dangling symlink among the images: named (fail), or counted and
    # named like the other skipped files (skip); it was dropped silently.
    dangle = os.path.join(work, "imagenet-dangle")
    shutil.rmtree(dangle, ignore_errors=True)
    os.makedirs(os.path.join(dangle, "val", "n01440764"))
    for k in (0, 2):
        shutil.copy(items[k][0], os.path.join(dangle, "val", "n01440764", f"img{k}.JPEG"))
    link = os.path.join(dangle, "val", "n01440764", "img1.JPEG")
    os.symlink(os.path.join(dangle, "gone.JPEG"), link)
    cfgd = config(work, "dangle", f"  name: imagenet\n  path: {dangle}\n")
    _, _, _, p = dump(recal, cfgd, work, expect_rc=1)
    check(link in p.stderr, "a dangling symlink is named (on_error fail): " + p.stderr.strip()[:200])
    x, y, meta, p = dump(recal, cfgd, work, "dataset.on_error=skip")
    if x is not None:
        check(meta["skipped"] == 1 and meta["skipped_files"] == [link],
              f"a dangling symlink is counted and named (on_error skip): {meta['skipped_files']}")


def dct_scaling(recal, cfg, work, items, resize, crop, sets):
    """dataset.dct_scaling: a JPEG at least twice the resize target in both
    sides is decoded at libjpeg-turbo's smallest M/8 scale that keeps it so
    (PIL's draft mode, similar in spirit); everything else must stay exact.
    Bounds in gray levels (0..255) against PIL's full decode + resize."""
    x, _, _, _ = dump(recal, cfg, work, *sets, "dataset.dct_scaling=true")
    if x is None:
        return
    levels = 255 * IMAGENET_STD[:, None, None]
    scaled = 0
    for i, (path, _) in enumerate(items):
        img = Image.open(path)
        w, h = img.size
        if not crop:
            tw, th = resize, resize
        else:
            tw, th = (int(resize * w / h), resize) if h <= w else (resize, int(resize * h / w))
        d = np.abs(x[i] - oracle(path, resize, crop)) * levels
        name = os.path.basename(path)
        if img.format == "JPEG" and w >= 2 * tw and h >= 2 * th:
            scaled += 1
            check(d.mean() < 1.0 and d.max() < 32,
                  f"dct_scaling resize {resize} crop {crop} {name} ({w}x{h}, may be decoded smaller): mean |diff| "
                  f"{d.mean():.3f}, max {d.max():.1f} gray levels")
        else:
            check(d.max() * 1 < TOL_RESIZE * 255, f"dct_scaling resize {resize} crop {crop} {name}: unchanged "
                  f"(max |diff| {d.max():.1e} gray levels)")
    check(scaled >= 1, f"dct_scaling resize {resize} crop {crop}: {scaled} image(s) large enough to be decoded smaller")


def run_skip(recal, work, bad):
    """`recal run` with on_error: skip: the bad image is left out of the
    accuracy (checked against the model applied to PIL's decode of the two
    good images) and counted in metrics.json."""
    model = os.path.join(work, "tiny-imagenet-model.pt")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 3))
    torch.jit.save(torch.jit.script(net.eval()), model)
    # Three class folders for the model's three outputs (a model with more
    # outputs than the data's classes is refused): the bad set's folder, and
    # two more holding a copy of one of its good images each.
    data = os.path.join(work, "imagenet-bad3")
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(bad, data)
    wnids = ["n01440764", "n01443537", "n01484850"]
    for wnid in wnids[1:]:
        os.makedirs(os.path.join(data, "val", wnid))
        shutil.copy(os.path.join(bad, "val", wnids[0], "img2.JPEG"), os.path.join(data, "val", wnid, "img2.JPEG"))
    cfg = config(work, "skiprun", f"  name: imagenet\n  path: {data}\n  on_error: skip\n"
                 "metrics: {diffid: {ratios: [0.5]}}\n")
    run_dir = os.path.join(work, "skip-run")
    shutil.rmtree(run_dir, ignore_errors=True)
    p = subprocess.run([recal, "run", cfg, "--set", f"model.path={model}", "--set", "shard_images=2",
                        "--run-dir", run_dir], capture_output=True, text=True)
    check(p.returncode == 0, f"recal run with on_error: skip exits 0 (got {p.returncode}) {p.stderr.strip()[-300:]}")
    if p.returncode:
        return
    check("img1.JPEG" in p.stderr, "recal run logs the skipped file")
    m = json.load(open(os.path.join(run_dir, "metrics.json")))
    good = [(os.path.join(data, "val", w, f), c) for c, w in enumerate(wnids)
            for f in sorted(os.listdir(os.path.join(data, "val", w))) if f != "img1.JPEG"]
    with torch.no_grad():
        x = torch.from_numpy(np.stack([oracle(g, 224, 0) for g, _ in good])).float()
        acc = float((net(x).argmax(1) == torch.tensor([c for _, c in good])).double().mean())
    check(m["images"] == 4 and m.get("skipped_images") == 1,
          f"metrics.json images {m['images']}, skipped_images {m.get('skipped_images')}")
    check(abs(m["accuracy"] - acc) < 1e-9, f"accuracy over the good images only: {m['accuracy']} vs {acc}")
    listed = m.get("skipped_files", [])
    check(len(listed) == 1 and listed[0].endswith("val/n01440764/img1.JPEG"),
          f"metrics.json lists the skipped file: {listed}")


def main():
    recal, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    cifar(recal, work)
    npy(recal, work)
    imagenet(recal, work)
    png_kinds(recal, work)
    for big in ("cifar-10-batches-bin", "cifar-100-binary"):
        shutil.rmtree(os.path.join(work, big), ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all dataset checks passed")


if __name__ == "__main__":
    main()
