"""dashboard/requirements.txt (what Streamlit Community Cloud installs: it looks beside the
entrypoint dashboard/app.py before the repository root) pins exactly what the root
requirements.txt pins, except that torch is the CPU build from PyTorch's CPU index."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _lines(path: Path) -> list[str]:
    return [ln.split("#")[0].strip() for ln in path.read_text().splitlines() if ln.split("#")[0].strip()]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for ln in _lines(path):
        if ln.startswith("-"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", ln)
        assert m, f"{path.name}: not an exact pin: {ln!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_deploy_file_is_beside_the_entrypoint():
    assert (ROOT / "dashboard" / "app.py").is_file() and (ROOT / "dashboard" / "requirements.txt").is_file()
    # nothing in dashboard/ that Community Cloud would pick before requirements.txt
    for name in ("uv.lock", "Pipfile", "environment.yml"):
        assert not (ROOT / "dashboard" / name).exists(), name


def test_same_pins_as_the_root_except_cpu_torch():
    root, deploy = _pins(ROOT / "requirements.txt"), _pins(ROOT / "dashboard" / "requirements.txt")
    assert set(root) == set(deploy)
    assert deploy["torch"] == root["torch"].split("+")[0] + "+cpu"
    assert {k: v for k, v in deploy.items() if k != "torch"} == {k: v for k, v in root.items() if k != "torch"}


def test_cpu_index_only_in_the_deploy_file():
    options = [ln for ln in _lines(ROOT / "dashboard" / "requirements.txt") if ln.startswith("-")]
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    # the local install (pip install -r requirements.txt) stays as it is: no extra index there
    assert not [ln for ln in _lines(ROOT / "requirements.txt") if ln.startswith("-")]
