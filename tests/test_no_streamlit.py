"""model/ and data/ are plain Python: importing any of their modules must not import Streamlit
(so the command-line tools, training and benchmarks never start or depend on the UI)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "data")

CHECK = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    found[name] = sorted(m for m in sys.modules if m == "streamlit" or m.startswith("streamlit."))[:3]
print(json.dumps(found))
"""


def module_names() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):   # subpackages too (model.explain.*)
            parts = f.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if f.stem == "__init__" else parts))
    return names


def test_every_module_is_found():
    names = module_names()
    for expected in ("data.mnist", "data.preprocess", "model.vit", "model.inference", "model.train",
                     "model.forest", "model.evaluate", "model.predict", "model.paths",
                     "model.explain", "model.explain.attribution", "model.explain.__main__"):
        assert expected in names


def test_model_and_data_do_not_import_streamlit():
    names = module_names()
    proc = subprocess.run([sys.executable, "-c", CHECK, *names], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(found) == set(names)
    offenders = {name: mods for name, mods in found.items() if mods}
    assert not offenders, f"importing these pulled in streamlit (cumulative, first one is the culprit): {offenders}"


def test_the_check_detects_streamlit():
    """The same check run on a module that does import streamlit reports it (the test can fail)."""
    proc = subprocess.run([sys.executable, "-c", CHECK, "streamlit"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["streamlit"]
