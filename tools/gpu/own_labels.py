#!/usr/bin/env python3
"""Labels = the model's own argmax on the images recal feeds it (a
`recal dataset-dump` of the run's data), so that a random-weights model has
clean accuracy 1 and DiffID's curves move (on random labels its accuracy is
0 and any two DiffID implementations agree trivially).
usage: own_labels.py MODEL.pt X.npy LABELS_OUT.npy DEVICE"""
import sys

import numpy as np
import torch

model, xs, out, dev = sys.argv[1:5]
net = torch.jit.load(model, map_location=dev).eval()
x = np.load(xs, mmap_mode="r")
with torch.no_grad():
    y = np.concatenate([net(torch.from_numpy(np.array(x[i:i + 64])).to(dev)).argmax(1).cpu().numpy()
                        for i in range(0, len(x), 64)])
np.save(out, y.astype(np.int64))
print(f"own labels: {len(y)} images, {len(np.unique(y))} distinct classes")
