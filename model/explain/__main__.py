"""One command for every explanation family: ``python -m model.explain SUBCOMMAND FILE --json``.

The command line is generated from the registry (:func:`model.explain._registry.families`): one
subcommand per :class:`Family`, one ``--flag`` per :class:`Setting` (``n_samples`` becomes
``--n-samples``; int, float and choice are typed, a bool is ``--x/--no-x``; a Setting whose
default is None is optional), checked by :meth:`Family.validate`, printed from
``result.to_json()``. ``FILE`` is an image file that goes through exactly what an upload in the
app goes through (:func:`model.predict.load_digit`); for a family whose ``input`` is
``"strokes"`` it is the canvas JSON (its ``objects`` list).

With ``--json`` the result is printed as one JSON object on stdout; without it, indented. An
unreadable, non-image or blank file, a bad option value, or a missing or corrupt ``--weights``
file prints one line on stderr and exits with status 1.

A module without ``FAMILY`` that still defines the older ``add_cli(subparsers)`` (which sets
``run(args, model, image) -> dict``) keeps its subcommand until it is converted.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import model.explain as package
from model.explain._registry import Family, Setting, families, jsonable

def _choice_value(text: str):
    """A choice option from the command line: "3" -> 3 (layer/head numbers), else the string."""
    try:
        return int(text)
    except ValueError:
        return text


def _add_setting(p: argparse.ArgumentParser, s: Setting) -> None:
    flags = [f"--{s.name.replace('_', '-')}"] + ([f"-{s.name}"] if len(s.name) == 1 else [])
    shown = "" if s.default is None else f" (default {s.default})"
    kw: dict = {"dest": s.name, "default": None, "help": (s.help or s.label) + shown}
    if s.kind == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    elif s.kind == "int":
        kw["type"] = int
    elif s.kind == "float":
        kw["type"] = float
    elif s.kind == "choice":
        kw["type"] = _choice_value
        if s.options:
            kw["metavar"] = "{" + ",".join(map(str, s.options)) + (",..." if s.options_from else "") + "}"
    else:                                 # "path", "image": a file name
        kw["metavar"] = "FILE"
    p.add_argument(*flags, **kw)


def _add_common(p: argparse.ArgumentParser, fam: Family | None = None) -> None:
    what = ("the canvas JSON of a drawing (its 'objects')" if fam is not None and fam.input == "strokes"
            else "an image file of one digit (PNG, JPEG, ...), as the app's upload takes")
    p.add_argument("file", help=what)
    p.add_argument("--json", action="store_true", help="print one JSON object (else indented)")
    p.add_argument("--weights", default=None, help="ViT weights (default: the shipped model)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app uses 1)")


def _legacy_modules():
    """Modules that have no FAMILY yet but the older ``add_cli`` (the fallback)."""
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if not hasattr(module, "FAMILY") and not hasattr(module, "FAMILIES") and hasattr(module, "add_cli"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model.explain", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="FAMILY")
    fams = families()
    for fam in fams.values():
        desc = fam.help + (f" Source: {fam.source}." if fam.source else "")
        p = sub.add_parser(fam.name, help=fam.help, description=desc)
        for s in fam.options:
            _add_setting(p, s)
        _add_common(p, fam)
        p.set_defaults(family=fam)
    for module in _legacy_modules():
        p = module.add_cli(sub)
        _add_common(p)
        p.set_defaults(legacy=True)
    return parser


def _read_strokes(path: str) -> list:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError("No such file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a canvas JSON file ({type(exc).__name__})") from None
    objects = doc.get("objects") if isinstance(doc, dict) else None
    if not isinstance(objects, list) or not objects:
        raise ValueError("the canvas JSON has no strokes ('objects' is missing or empty)")
    return objects


def _options(args: argparse.Namespace, fam: Family) -> dict:
    """The options given on the command line (not given: left to the family's defaults)."""
    from model.predict import load_digit

    out = {}
    for s in fam.options:
        v = getattr(args, s.name, None)
        if v is None:
            continue
        if s.kind == "image":             # a second digit image, read like FILE
            try:
                v = load_digit(v)
            except ValueError as exc:
                raise ValueError(f"{getattr(args, s.name)}: {exc}") from None
        out[s.name] = v
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from model import paths
    from model.predict import load_digit
    from model.vit import WeightsError, load_vit

    torch.set_num_threads(max(1, args.threads))
    fam: Family | None = getattr(args, "family", None)
    try:
        image = _read_strokes(args.file) if fam is not None and fam.input == "strokes" else load_digit(args.file)
    except ValueError as exc:             # ImageInputError is a ValueError
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        model = load_vit(args.weights or paths.VIT_WEIGHTS)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if fam is None:
            out = args.run(args, model, image)
        else:
            out = fam.run(model, image, **fam.validate(_options(args, fam), model)).to_json()
    except ValueError as exc:
        print(f"{args.command}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(json.dumps(jsonable(out), indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
