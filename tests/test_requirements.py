"""dashboard/requirements.txt (what Streamlit Community Cloud installs: it looks beside the
entrypoint dashboard/app.py before the repository root) pins exactly what the root
requirements.txt pins, except that torch on Linux is the CPU build from PyTorch's CPU torch page.

Community Cloud installs it with uv first (pip if uv fails). The resolver tests below serve, on
127.0.0.1, a small PyPI and a small "download.pytorch.org" laid out like the real ones (the CPU
index also carries an older numpy, as the real one carries numpy) and check, with the committed
file and only its host swapped, that uv's default index strategy and pip both take numpy from PyPI
and torch's CPU build from the CPU page. The old layout (--extra-index-url to the CPU index) is
resolved too, to show these indexes reproduce uv's failure. They skip where uv is not installed.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "dashboard" / "requirements.txt"
TORCH_HOST = "https://download.pytorch.org"
CPU_TORCH_PAGE = f"{TORCH_HOST}/whl/cpu/torch/"
OLD_NUMPY = "2.0.0"  # what the fake CPU index carries, older than the pin


def _lines(path: Path) -> list[str]:
    return [ln.split("#")[0].strip() for ln in path.read_text().splitlines() if ln.split("#")[0].strip()]


def _requirements(path: Path) -> list[Requirement]:
    return [Requirement(ln) for ln in _lines(path) if not ln.startswith("-")]


def _pin(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"not an exact pin: {req}"
    return spec.version


def _pins(path: Path, platform: str = "linux") -> dict[str, str]:
    """name -> pinned version for the requirements whose markers hold on `platform`."""
    pins = {}
    for req in _requirements(path):
        if req.marker is None or req.marker.evaluate({"sys_platform": platform}):
            name = re.sub(r"[-_.]+", "-", req.name).lower()
            assert name not in pins, f"{path.name}: {name} twice for {platform}"
            pins[name] = _pin(req)
    return pins


def test_deploy_file_is_beside_the_entrypoint():
    assert (ROOT / "dashboard" / "app.py").is_file() and DEPLOY.is_file()
    # nothing in dashboard/ that Community Cloud would pick before requirements.txt
    for name in ("uv.lock", "Pipfile", "environment.yml"):
        assert not (ROOT / "dashboard" / name).exists(), name


def test_same_pins_as_the_root_except_cpu_torch_on_linux():
    root = _pins(ROOT / "requirements.txt")
    for platform in ("linux", "darwin", "win32"):
        deploy = _pins(DEPLOY, platform)
        assert set(root) == set(deploy), platform
        assert {k: v for k, v in deploy.items() if k != "torch"} == {k: v for k, v in root.items() if k != "torch"}
    assert _pins(DEPLOY, "linux")["torch"] == root["torch"].split("+")[0] + "+cpu"
    # elsewhere PyPI's torch, which is the CPU build on macOS and Windows
    assert _pins(DEPLOY, "darwin")["torch"] == _pins(DEPLOY, "win32")["torch"] == root["torch"]


def test_only_the_cpu_torch_page_is_added():
    options = [ln for ln in _lines(DEPLOY) if ln.startswith("-")]
    # no --extra-index-url / --index-url: with uv's first-index strategy an extra index that also
    # carries numpy, pillow... would be the only place uv looks for them
    assert options == [f"--find-links {CPU_TORCH_PAGE}"]
    # the local install (pip install -r requirements.txt) stays as it is: no extra source there
    assert not [ln for ln in _lines(ROOT / "requirements.txt") if ln.startswith("-")]


# ---------------------------------------------------------------- resolving with uv and pip


def _uv() -> str | None:
    try:
        import uv  # the PyPI package ships the binary

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any") -> tuple[str, str]:
    """Write an empty wheel with just its metadata; return (file name, sha256)."""
    dist = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    files = {
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}"
        for path, text in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    filename = f"{dist}-{tag}.whl"
    with zipfile.ZipFile(folder / filename, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return filename, hashlib.sha256((folder / filename).read_bytes()).hexdigest()


def _project_page(folder: Path, links: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    anchors = "\n".join(f'<a href="{href}#sha256={sha}">{href.rsplit("/", 1)[-1]}</a><br/>' for href, sha in links)
    (folder / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{anchors}\n</body></html>\n")


_LINUX_TAGS = [f"cp{v}-cp{v}-manylinux_2_28_x86_64" for v in ("311", "312", "313")]
_MAC_TAGS = [f"cp{v}-none-macosx_11_0_arm64" for v in ("311", "312", "313")]


def _build_indexes(root: Path) -> None:
    """root/pypi/simple: every pin of the deploy file (torch: PyPI's build, no local version).
    root/whl/cpu: a PEP 503 index like PyTorch's CPU one: torch 2.x+cpu, and numpy and pillow at
    older versions; its project pages link files by absolute path, as the real one does."""
    files, cpu = root / "files", root / "whl" / "cpu"
    files.mkdir(parents=True)
    cpu.mkdir(parents=True)
    torch_version = _pins(ROOT / "requirements.txt")["torch"]
    for name, version in _pins(DEPLOY, "darwin").items():
        tags = _LINUX_TAGS + _MAC_TAGS if name == "torch" else ["py3-none-any"]
        links = [_wheel(files, name, version, tag) for tag in tags]
        _project_page(root / "pypi" / "simple" / name, [(f"../../../files/{fn}", sha) for fn, sha in links])
    cpu_projects = {"torch": (f"{torch_version}+cpu", _LINUX_TAGS), "numpy": (OLD_NUMPY, _LINUX_TAGS),
                    "pillow": ("11.0.0", _LINUX_TAGS)}
    for name, (version, tags) in cpu_projects.items():
        links = [_wheel(cpu, name, version, tag) for tag in tags]
        _project_page(cpu / name, [(f"/whl/cpu/{quote(fn)}", sha) for fn, sha in links])


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """(base URL, root) of the two indexes above, served on 127.0.0.1 for this module."""
    root = tmp_path_factory.mktemp("indexes")
    _build_indexes(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def _env(cache: Path) -> dict[str, str]:
    """No user or machine configuration of uv or pip, no proxy: only what the command says."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("UV_", "PIP_")) and "proxy" not in k.lower()}
    return {**env, "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(cache / "uv"), "PIP_CONFIG_FILE": os.devnull,
            "PIP_CACHE_DIR": str(cache / "pip"), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_PROXY": "127.0.0.1"}


def _local_copy(text: str, base: str, tmp_path: Path) -> Path:
    assert TORCH_HOST in text
    path = tmp_path / "requirements.txt"
    path.write_text(text.replace(TORCH_HOST, base))
    return path


def _uv_resolve(uv: str, requirements: Path, base: str, python: str, platform: str) -> subprocess.CompletedProcess:
    """uv pip compile with uv's defaults (index strategy first-index), PyPI as the default index."""
    cmd = [uv, "pip", "compile", str(requirements), "--index-url", f"{base}/pypi/simple", "--python-version",
           python, "--python-platform", platform, "--format", "pylock.toml", "--no-header", "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(requirements.parent))


def _sources(pylock: str) -> dict[str, tuple[str, str]]:
    """name -> (version, URL of the chosen file) from uv's pylock.toml output."""
    out = {}
    for pkg in tomllib.loads(pylock)["packages"]:
        urls = [w["url"] for w in pkg.get("wheels", [])] + ([pkg["archive"]["url"]] if "archive" in pkg else [])
        out[pkg["name"]] = (pkg["version"], urls[0] if urls else "")
    return out


needs_uv = pytest.mark.skipif(_uv() is None, reason="uv is not installed (pip install uv)")


@needs_uv
@pytest.mark.parametrize("python", ["3.11", "3.12"])
def test_uv_default_strategy_takes_numpy_from_pypi_and_torch_from_the_cpu_page(indexes, tmp_path, python):
    base, _ = indexes
    requirements = _local_copy(DEPLOY.read_text(), base, tmp_path)
    done = _uv_resolve(_uv(), requirements, base, python, "x86_64-manylinux_2_28")
    assert done.returncode == 0, done.stderr
    got = _sources(done.stdout)
    pins = _pins(DEPLOY, "linux")
    assert {name: version for name, (version, _) in got.items()} == pins
    tag = f"cp{python.replace('.', '')}"
    wheel = f"torch-{pins['torch']}-{tag}-{tag}-manylinux_2_28_x86_64.whl"
    assert got["torch"][1] == f"{base}/whl/cpu/{quote(wheel)}"
    for name, (_, url) in got.items():
        if name != "torch":
            assert url.startswith(f"{base}/files/"), (name, url)  # PyPI's file, numpy and pillow included


@needs_uv
def test_uv_off_linux_takes_pypi_torch(indexes, tmp_path):
    base, _ = indexes
    requirements = _local_copy(DEPLOY.read_text(), base, tmp_path)
    done = _uv_resolve(_uv(), requirements, base, "3.11", "aarch64-apple-darwin")
    assert done.returncode == 0, done.stderr
    version, url = _sources(done.stdout)["torch"]
    assert version == _pins(ROOT / "requirements.txt")["torch"] and url.startswith(f"{base}/files/torch-")


@needs_uv
def test_the_old_extra_index_layout_fails_with_uv_here(indexes, tmp_path):
    """The control: what the file said before (an extra index) cannot resolve numpy with uv's
    default strategy on these indexes, so the test above would catch a return to it."""
    base, _ = indexes
    old = f"--extra-index-url {TORCH_HOST}/whl/cpu\n" + "\n".join(
        f"{name}=={version}" for name, version in _pins(DEPLOY, "linux").items())
    done = _uv_resolve(_uv(), _local_copy(old, base, tmp_path), base, "3.11", "x86_64-manylinux_2_28")
    assert done.returncode != 0
    # uv names the index it stopped at: the CPU one, which has numpy, but only an older one
    assert f"`numpy` was found on {base}/whl/cpu, but not at the requested version" in done.stderr, done.stderr


def test_pip_takes_numpy_from_pypi_and_torch_from_the_cpu_page(indexes, tmp_path):
    """pip (Community Cloud's fallback) with the same file, for this interpreter on this Linux."""
    if not sys.platform.startswith("linux") or sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13)):
        pytest.skip("the fake wheels are for CPython 3.11-3.13 on Linux")
    base, _ = indexes
    requirements = _local_copy(DEPLOY.read_text(), base, tmp_path)
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
           str(report), "-r", str(requirements), "--index-url", f"{base}/pypi/simple"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    got = {item["metadata"]["name"].lower(): (item["metadata"]["version"], item["download_info"]["url"])
           for item in json.loads(report.read_text())["install"]}
    pins = _pins(DEPLOY, "linux")
    assert {name: version for name, (version, _) in got.items()} == pins
    assert got["torch"][1].startswith(f"{base}/whl/cpu/torch-")
    assert got["numpy"][1].startswith(f"{base}/files/numpy-")
