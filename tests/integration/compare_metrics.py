#!/usr/bin/python3
"""Two metrics.json files of the same job must agree on every reduced
number (the 1-rank vs N-rank invariant). usage: compare_metrics.py A B IMAGES"""
import json
import sys

a, b = (json.load(open(p)) for p in sys.argv[1:3])
images = int(sys.argv[3])
assert a["images"] == b["images"] == images, (a["images"], b["images"])
assert a["ranks"] != b["ranks"], "expected runs with different rank counts"
assert abs(a["accuracy"] - b["accuracy"]) < 1e-12
assert len(a["results"]) == len(b["results"]) > 0
bad = 0
for ra, rb in zip(a["results"], b["results"]):
    assert (ra["method"], ra["estimator"]) == (rb["method"], rb["estimator"])
    for key, va in ra["diffid"].items():
        if key in ("auc", "mean"):
            continue
        for x, y in zip(va, rb["diffid"][key]):
            if abs(x - y) > 1e-6:
                print(f"{ra['method']}/{ra['estimator']} {key}: {x} != {y}")
                bad += 1
if bad:
    sys.exit(f"{bad} values differ between {a['ranks']} and {b['ranks']} ranks")
print(f"{len(a['results'])} results agree between {a['ranks']} and {b['ranks']} ranks over {images} images")
