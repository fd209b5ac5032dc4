"""Memory and speed of the random forest as scikit-learn objects versus the app's CompactForest.

    python benchmarks/forest_memory.py [--json] [--images 10000]

Each way of loading runs in a fresh Python process (so one does not inherit the other's
memory): resident memory added by importing what it needs and by loading the shipped
``model/artifacts/forest.npz``, the bytes of the compact arrays, the median time to predict one
image, and whether both give identical probabilities on the first ``--images`` MNIST test
images. docs/performance.md tables these figures (`--save`, then `benchmarks/report.py`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _results import add_save_option
from _results import save as save_result

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, sys, time
import numpy as np, psutil
sys.path.insert(0, {root!r})
rss = lambda: psutil.Process().memory_info().rss / 2**20
from model import paths
from data.mnist import load_mnist
images, _ = load_mnist("test")
images = images[:{n}]
base = rss()
if {kind!r} == "sklearn":
    import sklearn.ensemble, sklearn.tree  # noqa: F401
    imported = rss()
    from model.forest import load_forest as load
else:
    imported = rss()
    from model.forest import load_compact_forest as load
from model.forest import forest_predict_proba
t0 = time.perf_counter()
forest = load(paths.FOREST)
load_s = time.perf_counter() - t0
loaded = rss()
one = images[0] / 255.0
times = []
for _ in range(25):
    t0 = time.perf_counter(); forest_predict_proba(forest, one); times.append((time.perf_counter() - t0) * 1000)
probs = np.concatenate([forest_predict_proba(forest, images[i:i + 1000]) for i in range(0, len(images), 1000)])
np.save({out!r}, probs)
extra = {{}}
if {kind!r} == "compact":
    extra["array_mb"] = round(sum(a.nbytes for a in (forest.left, forest.right, forest.feature, forest.threshold,
                                                      forest.leaf_values)) / 2**20, 1)
print(json.dumps(dict(import_mb=round(imported - base, 1), load_mb=round(loaded - imported, 1),
                      load_s=round(load_s, 2), predict_one_ms=round(sorted(times)[len(times) // 2], 2),
                      sklearn_imported="sklearn" in sys.modules, **extra)))
"""


def measure(kind: str, n: int, out: Path) -> dict:
    code = _CHILD.format(root=str(ROOT), n=n, kind=kind, out=str(out))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    import tempfile

    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    add_save_option(ap)
    ap.add_argument("--images", type=int, default=10000)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = {k: measure(k, a.images, Path(tmp) / f"{k}.npy") for k in ("sklearn", "compact")}
        same = bool(np.array_equal(np.load(Path(tmp) / "sklearn.npy"), np.load(Path(tmp) / "compact.npy")))
    res["identical_probabilities"] = same
    res["images"] = a.images
    save_result(a, "forest_memory", res, argv)
    if a.json:
        print(json.dumps(res))
        return
    for k in ("sklearn", "compact"):
        r = res[k]
        print(f"{k:>8}: imports +{r['import_mb']} MB, forest +{r['load_mb']} MB resident, loaded in {r['load_s']} s, "
              f"one image {r['predict_one_ms']} ms" + (f", arrays {r['array_mb']} MB" if "array_mb" in r else ""))
    print(f"identical probabilities on {a.images:,} test images: {same}")


if __name__ == "__main__":
    main()
