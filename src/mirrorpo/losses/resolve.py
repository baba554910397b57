"""Turning what a user names as a loss into a labelled per-pair loss callable.

A loss can be given as

* a registered name, with optional hyper-parameters: ``dpo``, ``dpo:beta=0.3``,
  ``cdpo:beta=0.1,label_smoothing=0.2`` (each value checked against the loss's declared range);
* a loss-family file (``best.json`` of a search; see mirrorpo.losses.family), optionally with
  coordinates of its flat vector set: ``best.json:beta=0.05``;
* a Python callable by import path, ``package.module:function``, optionally with keyword
  hyper-parameters ``package.module:function:beta=0.3`` bound to it;
* from Python, any callable ``PreferenceBatch → per-pair losses (..., B)`` itself, or a
  :class:`NamedLoss` that gives it a label.

Every loss gets one label, the name that rows, files and plots use (:func:`loss_label`): the
registered name with the hyper-parameters given (``dpo:beta=0.3``), ``family:stem`` for a file
(``mpo:best``; ``mpo:best:beta=0.05`` with a coordinate set), the import path for an imported
callable, and the function's ``__name__`` for a callable given directly. Two losses with one
label in a run are refused (:func:`resolve_losses`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from mirrorpo.config import ConfigError
from mirrorpo.losses.registry import LOSSES, BatchLoss, PreferenceBatch, get_loss

IMPORT_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)"
                         r"(?::(?P<args>.*))?$")
"""``module:function`` with optional ``:key=value,...``; told apart from ``NAME:key=value`` by
the second part, which has no '='."""


@dataclass(frozen=True)
class NamedLoss:
    """A per-pair loss with its label; ``spec`` is the text it was resolved from (None for a
    callable given from Python, which a saved run records by label only)."""

    label: str
    fn: BatchLoss
    spec: str | None = None

    def __call__(self, batch: PreferenceBatch) -> torch.Tensor:
        return self.fn(batch)

    @property
    def record(self) -> str:
        """What a saved config records for this loss: its spec, or ``python:LABEL``."""
        return self.spec if self.spec is not None else f"python:{self.label}"


LossLike = str | Callable[[PreferenceBatch], torch.Tensor]
"""What the API accepts as a loss: a spec string (see the module docstring), a callable or a
:class:`NamedLoss`."""


def parse_hparams(text: str, where: str) -> dict[str, float]:
    """``key=value,key=value`` → {key: float}; errors name ``where`` (the spec)."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"loss {where!r}: expected key=value, got {item!r}")
        if key in out:
            raise ConfigError(f"loss {where!r}: {key} given twice")
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"loss {where!r}: {key}={value.strip()!r} is not a number") from None
    return out


def _hparam_text(hparams: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in hparams.items())


def registered_loss(name: str, hparams: dict[str, float], spec: str) -> NamedLoss:
    """A registered loss with hyper-parameters bound, each checked against its range."""
    loss_spec = get_loss(name)
    loss_spec.check(hparams)
    label = name + (":" + _hparam_text(hparams) if hparams else "")
    return NamedLoss(label, functools.partial(loss_spec, **hparams), spec)


def imported_loss(module: str, attr: str, hparams: dict[str, float], spec: str) -> NamedLoss:
    """``module:attr`` imported, with keyword hyper-parameters bound (names checked)."""
    if os.getcwd() not in sys.path:  # as `python -m` would: a user's module in the current
        sys.path.append(os.getcwd())  # directory imports (appended: never shadows a package)
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"loss {spec!r}: cannot import module {module!r} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"loss {spec!r}: module {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"loss {spec!r}: {module}:{attr} is not callable")
    if hparams:
        check_keywords(obj, hparams, spec)
        obj = functools.partial(obj, **hparams)
    label = f"{module}:{attr}" + (":" + _hparam_text(hparams) if hparams else "")
    return NamedLoss(label, obj, spec)


def check_keywords(fn: Callable, hparams: dict[str, float], spec: str) -> None:
    """Refuse hyper-parameters that ``fn`` does not take as keywords."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call tell
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n, p in list(params.items())[1:]
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(hparams) - set(names))
    if unknown:
        raise ConfigError(f"loss {spec!r}: takes no hyper-parameter(s) {unknown}; "
                          f"it takes {names or 'none'}")


FILE_SPEC = re.compile(r"^(?P<path>.+\.json)(?::(?P<args>[^:]*=.*))?$")
"""A loss-family file with optional coordinates set: ``best.json`` or ``best.json:beta=0.05``."""


def has_set_coordinates(loss: object) -> bool:
    """Whether ``loss`` is a loss-file spec with coordinates set (``best.json:beta=0.05``)."""
    m = FILE_SPEC.match(loss) if isinstance(loss, str) else None
    return bool(m and m["args"])


def refuse_set_coordinates(losses: Iterable[object], where: str) -> None:
    """ConfigError for a ``file.json:key=value`` spec in a run that checks loss files' fitting
    draws by file (meta-test, confirm): save the moved loss as its own file there."""
    for x in losses:
        if has_set_coordinates(x):
            raise ConfigError(f"{where}: {x!r}: a loss file with coordinates set is not accepted "
                              "here (its fitting draws are checked by file); save the loss with "
                              "them set as its own file")


def file_loss(path: str, values: dict[str, float] | None = None,
              spec: str | None = None) -> NamedLoss:
    """A loss-family file (``best.json``), labelled ``family:stem``; with ``values``, its
    flat-vector coordinates of those names set (``mpo.with_coordinates``) and the label
    ``family:stem:beta=0.05``."""
    from mirrorpo.losses.mpo import load_mpo, with_coordinates

    loss = load_mpo(Path(path))
    label = f"{loss.family}:{Path(path).stem}"
    if values:
        loss = with_coordinates(loss, values, spec or path)
        label += ":" + _hparam_text(values)
    return NamedLoss(label, loss, spec or str(path))


def callable_label(fn: Callable) -> str:
    """A callable's label: its ``__name__`` (a partial's function name and bound keywords)."""
    if isinstance(fn, functools.partial):
        kw = {k: v for k, v in fn.keywords.items() if isinstance(v, int | float)}
        base = callable_label(fn.func)
        return base + (":" + _hparam_text(kw) if kw else "")
    return getattr(fn, "__name__", None) or type(fn).__name__


def resolve_loss(loss: LossLike | NamedLoss) -> NamedLoss:
    """A :class:`NamedLoss` for any accepted form; ConfigError / ValueError name the spec."""
    if isinstance(loss, NamedLoss):
        return loss
    if not isinstance(loss, str):
        if not callable(loss):
            raise ConfigError(f"loss {loss!r}: neither a loss spec string nor a callable")
        return NamedLoss(callable_label(loss), loss, None)
    spec = loss.strip()
    if not spec:
        raise ConfigError("loss '': empty spec")
    m = FILE_SPEC.match(spec)
    if m:
        return file_loss(m["path"], parse_hparams(m["args"] or "", spec), spec)
    if spec.startswith("python:"):
        raise ConfigError(f"loss {spec!r} was given as a Python callable when the run was made; "
                          "pass that callable itself (from Python) to continue the run")
    m = IMPORT_SPEC.match(spec)
    if m and "=" not in m["attr"] and m["module"] not in LOSSES:
        return imported_loss(m["module"], m["attr"], parse_hparams(m["args"] or "", spec), spec)
    name, _, args = spec.partition(":")
    return registered_loss(name.strip(), parse_hparams(args, spec), spec)


def resolve_losses(losses: Iterable[LossLike | NamedLoss]) -> list[NamedLoss]:
    """Resolve several losses; two with one label are refused (their results would share a
    row and overwrite each other)."""
    out = [resolve_loss(x) for x in losses]
    seen: dict[str, int] = {}
    for i, nl in enumerate(out):
        if nl.label in seen:
            a = out[seen[nl.label]]
            raise ConfigError(f"losses {a.spec or a.label!r} and {nl.spec or nl.label!r} share "
                              f"the label {nl.label!r}; give each loss once (rename a file, or "
                              "wrap a callable in NamedLoss with its own label)")
        seen[nl.label] = i
    return out


def loss_label(loss: LossLike | NamedLoss) -> str:
    """The one display name of a loss (see the module docstring)."""
    return resolve_loss(loss).label
