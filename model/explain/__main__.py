"""One command for every explanation family: ``python -m model.explain SUBCOMMAND FILE --json``.

``FILE`` is an image file; it goes through exactly what an upload in the app goes through
(:func:`model.predict.load_digit`). Each family module of this package that has a command-line
form defines ``add_cli(subparsers)``, which adds its subcommand and sets ``run(args, model,
image) -> dict``; this entry finds them, so a new family needs no change here.

With ``--json`` the result is printed as one JSON object on stdout; without it, indented. An
unreadable, non-image or blank file prints a message on stderr and exits with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import numpy as np

import model.explain as package


def _families():
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "add_cli"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model.explain", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _families():
        p = module.add_cli(sub)
        p.add_argument("file", help="an image file of one digit (PNG, JPEG, ...), as the app's upload takes")
        p.add_argument("--json", action="store_true", help="print one JSON object (else indented)")
        p.add_argument("--weights", default=None, help="ViT weights (default: the shipped model)")
        p.add_argument("--threads", type=int, default=1, help="torch threads (the app uses 1)")
    return parser


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from data.preprocess import ImageInputError
    from model import paths
    from model.predict import load_digit
    from model.vit import load_vit

    torch.set_num_threads(max(1, args.threads))
    try:
        image = load_digit(args.file)
    except ImageInputError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    model = load_vit(args.weights or paths.VIT_WEIGHTS)
    try:
        result = args.run(args, model, image)
    except ValueError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(_jsonable(result), indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
