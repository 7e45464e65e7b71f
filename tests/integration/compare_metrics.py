#!/usr/bin/python3
"""Two metrics.json files of the same job must agree on every reduced
number (the 1-rank vs N-rank invariant). usage: compare_metrics.py A B IMAGES [any-ranks]
(any-ranks: the two runs may have the same rank count, as a run and its resume)"""
import json
import sys

a, b = (json.load(open(p)) for p in sys.argv[1:3])
images = int(sys.argv[3])
assert a["images"] == b["images"] == images, (a["images"], b["images"])
if sys.argv[4:] != ["any-ranks"]:
    assert a["ranks"] != b["ranks"], "expected runs with different rank counts"
assert abs(a["accuracy"] - b["accuracy"]) < 1e-12
assert len(a["results"]) == len(b["results"]) > 0
bad = 0


def walk(path, x, y):
    """every number of a result, at any depth, must agree"""
    global bad
    if isinstance(x, dict):
        assert set(x) == set(y), (path, set(x) ^ set(y))
        for k in x:
            walk(f"{path}.{k}", x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            walk(f"{path}[{i}]", u, v)
    elif x is None or y is None:  # null (undefined) in one must be null in both
        if x is not y:
            print(f"{path}: {x} != {y}")
            bad += 1
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        if abs(x - y) > 1e-6 * max(1.0, abs(x)):
            print(f"{path}: {x} != {y}")
            bad += 1
    else:
        assert x == y, (path, x, y)


for ra, rb in zip(a["results"], b["results"]):
    assert (ra["method"], ra["estimator"]) == (rb["method"], rb["estimator"])
    walk(f"{ra['method']}/{ra['estimator']}", ra, rb)
# the statistics (docs/statistics.md): the same intervals and paired tests
assert ("paired" in a) == ("paired" in b) and a.get("statistics") == b.get("statistics")
walk("paired", a.get("paired"), b.get("paired"))
# The shim's ledger, present and sane in both. Not compared: a lone image
# is paired with a copy of itself, so passes follow the batching, and small
# copies (label checks) follow the chunks.
for m in (a, b):
    assert m["passes"]["forward_samples_per_image"] >= 1, m["passes"]
    assert m["transfer"]["h2d_bytes_per_image"] >= m["transfer"]["image_bytes"] > 0, m["transfer"]
if bad:
    sys.exit(f"{bad} values differ between {a['ranks']} and {b['ranks']} ranks")
print(f"{len(a['results'])} results agree between {a['ranks']} and {b['ranks']} ranks over {images} images")
