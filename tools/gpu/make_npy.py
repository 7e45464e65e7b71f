#!/usr/bin/env python3
"""Write a synthetic npy dataset (docs/datasets.md, npy): N random uint8
images (N×H×W×C) and labels, for timing and GPU checks where no real data set
is on the machine. usage: make_npy.py DIR N C SIZE CLASSES [train]"""
import os
import sys

import numpy as np

d, n, c, size, classes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
train = len(sys.argv) > 6 and sys.argv[6] == "train"
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
suffix = "-train" if train else ""
np.save(os.path.join(d, f"images{suffix}.npy"), rng.integers(0, 256, (n, size, size, c), dtype=np.uint8))
np.save(os.path.join(d, f"labels{suffix}.npy"), rng.integers(0, classes, n, dtype=np.int64))
