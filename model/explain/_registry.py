"""The one contract every explanation family follows (Captum's "one verb per family").

A family module in :mod:`model.explain` defines

* ``run(model, image, **options) -> Result``: the verb. ``image`` is the (28, 28) float array in
  [0, 1] the model sees (for a family whose ``input`` is ``"strokes"``, the canvas JSON's
  ``objects`` list instead). Options are validated against the family's :class:`Setting` schema.
* a ``Result`` dataclass with ``to_json() -> dict`` (plain JSON types only);
* ``FAMILY = Family(name, run, help, options=(...), source=...)``.

:func:`families` discovers every module's ``FAMILY``; the command line
``python -m model.explain SUB FILE --json`` (one subcommand per family, one ``--flag`` per
Setting), the option validation and the menus are all built from this registry, so adding a
family touches its module, its figures and its page, nothing else.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """numpy arrays and scalars, tuples and dataclasses -> plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


class Result:
    """Mixin for a family's result dataclass: ``to_json()`` serialises every field."""

    def to_json(self) -> dict:
        return jsonable(self)


@dataclass(frozen=True)
class Setting:
    """One user-facing option: ``kind`` is int, float, choice, bool, text, path (a file name) or
    image (a second (28, 28) digit; the command line reads it from a file). ``options_from``
    ("layers"/"heads") makes choice options depend on the model. ``default=None`` means
    "not given" (for example ``target``: the predicted class)."""
    name: str
    label: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple = ()
    help: str = ""
    options_from: str | None = None

    def resolve(self, model) -> Setting:
        if self.options_from is None or model is None:
            return self
        n = model.cfg.depth if self.options_from == "layers" else model.cfg.heads
        return replace(self, options=tuple(self.options) + tuple(range(n)), options_from=None)

    def check(self, value: Any) -> Any:
        if value is None and self.default is None:
            return None
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name} must be a whole number, got {value}")
            v = int(value)
            if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
                raise ValueError(f"{self.name} must be in [{self.min:g}, {self.max:g}], got {v}")
            return v
        if self.kind == "float":
            v = float(value)
            too_low, too_high = self.min is not None and v < self.min, self.max is not None and v > self.max
            if not math.isfinite(v) or too_low or too_high:
                raise ValueError(f"{self.name} must be in [{self.min}, {self.max}], got {v}")
            return v
        if self.kind == "bool":
            return bool(value)
        if self.kind in ("text", "path"):        # free text (e.g. "0.1,3.2"), a file name
            return str(value)
        if self.kind == "image":                 # a second digit, (28, 28) in [0, 1]
            v = np.asarray(value, dtype=np.float32)
            if v.shape != (28, 28) or not np.isfinite(v).all():
                raise ValueError(f"{self.name} must be a 28x28 image, got shape {v.shape}")
            return v
        if self.options_from is None and value not in self.options:
            raise ValueError(f"{self.name} must be one of {self.options}, got {value!r}")
        return value


TARGET = Setting("target", "Class to explain", "int", None, 0, 9, 1,
                 help="the digit to explain (default: the predicted class)")


@dataclass(frozen=True)
class Family:
    name: str                              # the CLI subcommand, e.g. "walkthrough"
    run: Callable[..., Result]             # run(model, image, **options) -> Result
    help: str                              # one line for menus and --help
    options: tuple[Setting, ...] = ()
    source: str = ""                       # the paper(s) it comes from
    input: str = "image"                   # "image": a (28, 28) digit; "strokes": the canvas objects

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.options}

    def validate(self, options: dict[str, Any], model=None) -> dict[str, Any]:
        """Defaults overridden by ``options``, each checked against its Setting."""
        schema = {s.name: s.resolve(model) for s in self.options}
        out = self.defaults()
        for k, v in options.items():
            if k not in schema:
                raise ValueError(f"{self.name} has no option {k!r}; it takes {sorted(schema)}")
            out[k] = schema[k].check(v)
        return out

    def __call__(self, model, image, **options) -> Result:
        return self.run(model, image, **self.validate(options, model))


def families() -> dict[str, Family]:
    """Every family of :mod:`model.explain`, by name, found by importing its modules."""
    import model.explain as package

    found: dict[str, Family] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for fam in getattr(module, "FAMILIES", ()) or ([module.FAMILY] if hasattr(module, "FAMILY") else []):
            if fam.name in found:
                raise RuntimeError(f"two families are named {fam.name!r}")
            found[fam.name] = fam
    return found


def run(name: str, model, image, **options) -> Result:
    """Run the family ``name`` on one digit with validated options."""
    fams = families()
    if name not in fams:
        raise ValueError(f"unknown explanation family {name!r}; choose one of {sorted(fams)}")
    return fams[name](model, image, **options)


__all__ = ["TARGET", "Family", "Result", "Setting", "families", "jsonable"]
