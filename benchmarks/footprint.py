"""How big the project is to clone and to install: ``python benchmarks/footprint.py [--json] [--save]``.

Prints the size of what a clone carries (tracked files, and the packed git history) and what
``pip install -r requirements.txt`` puts into the running environment, per distribution, so
the docs (docs/performance.md, written by benchmarks/report.py from `--save`) show measured sizes, not guesses.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from _results import add_save_option
from _results import save as save_result

ROOT = Path(__file__).resolve().parents[1]


def tracked_bytes() -> dict[str, int]:
    """Bytes of the tracked files, grouped by top-level folder."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    sizes: dict[str, int] = {}
    for name in filter(None, files.decode().split("\0")):
        path = ROOT / name
        if path.is_file():
            top = name.split("/", 1)[0] if "/" in name else "(top level)"
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def git_pack_bytes() -> int:
    """Size of the repository's object store (what a full clone downloads, roughly)."""
    out = subprocess.run(["git", "count-objects", "-v"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    kib = {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}
    return 1024 * (kib.get("size", 0) + kib.get("size-pack", 0))


def requirement_names(path: Path = ROOT / "requirements.txt") -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def installed_bytes() -> dict[str, int]:
    """Bytes on disk of every installed distribution (all of the environment, dependencies too)."""
    sizes = {}
    for dist in metadata.distributions():
        total = 0
        for f in dist.files or []:
            p = Path(dist.locate_file(f))
            if p.is_file():
                total += p.stat().st_size
        sizes[dist.metadata["Name"]] = total
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    add_save_option(p)
    a = p.parse_args(argv)
    tracked = tracked_bytes()
    installed = installed_bytes()
    lower = {k.lower().replace("_", "-"): v for k, v in installed.items()}
    direct = {n: lower.get(n.lower().replace("_", "-"), 0) for n in requirement_names()}
    result = {
        "tracked_mb": round(sum(tracked.values()) / 1e6, 1),
        "tracked_mb_by_folder": {k: round(v / 1e6, 2) for k, v in tracked.items()},
        "git_objects_mb": round(git_pack_bytes() / 1e6, 1),
        "environment_mb": round(sum(installed.values()) / 1e6),
        "requirements_mb": {k: round(v / 1e6, 1) for k, v in direct.items()},
        "python": sys.version.split()[0],
    }
    save_result(a, "footprint", result, argv)
    if a.json:
        print(json.dumps(result))
        return
    print(f"tracked files: {result['tracked_mb']} MB; git objects (clone download): {result['git_objects_mb']} MB")
    for k, v in result["tracked_mb_by_folder"].items():
        print(f"  {k:20s} {v:8.2f} MB")
    print(f"installed environment (this venv, all packages): {result['environment_mb']} MB")
    for k, v in sorted(result["requirements_mb"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:28s} {v:8.1f} MB")


if __name__ == "__main__":
    main()
