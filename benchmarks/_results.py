"""Where a benchmark keeps what it measured, so that ``benchmarks/report.py`` writes the docs' tables from it.

    python benchmarks/NAME.py --save        # also writes benchmarks/results/NAME.json
    python benchmarks/report.py             # rewrites the tables between markers in docs/*.md

Each benchmark adds the option with ``add_save_option(parser)`` and calls ``save(args, NAME, result)``
once it has its result: a no-op without ``--save``. The file records, beside the result, the command
that produced it, the date (UTC), the commit and the machine (CPUs, load average), so every table
in the docs says where its figures come from.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def add_save_option(parser) -> None:
    parser.add_argument("--save", action="store_true",
                        help="also write the result to benchmarks/results/NAME.json (for benchmarks/report.py)")


def command(argv: list[str] | None = None) -> str:
    """The command line that ran this benchmark, as a reader would retype it from the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", script.as_posix(), *args])


def _commit() -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+changes" if dirty else "")) or None


def record(name: str, result: dict, argv: list[str] | None = None, **extra) -> dict:
    """The JSON object saved for ``name``: the result and where it came from."""
    return {
        "benchmark": name,
        "command": command(argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()],
                    "python": platform.python_version()},
        **extra,
        "result": result,
    }


def save(args, name: str, result: dict, argv: list[str] | None = None, results_dir: Path = RESULTS,
         **extra) -> Path | None:
    """Write ``results_dir/NAME.json`` when ``args.save`` is set (``extra``: e.g. the benchmark's goals)."""
    if not getattr(args, "save", False):
        return None
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record(name, result, argv, **extra), indent=1) + "\n")
    tmp.replace(path)
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)
    return path
