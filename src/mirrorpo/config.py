"""Config fields that carry their help text and valid range, checked when a config is built.

Every job of the library (data, train, bench, meta-test, search, LLM) takes one frozen config
dataclass. Its fields are declared with :func:`setting`, which records a one-line help text, a
numeric range and the allowed choices (a registry, read when checked) in the field's metadata.
:func:`check` enforces them from ``__post_init__``, so a config that exists is valid, and the
command line builds its options from the same fields (``mirrorpo.cli.options``): each default
and each range is written once, here.

Errors are :class:`ConfigError` (a ``ValueError``) naming the config class and the field.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A config field holds a value outside its domain (the message names the field)."""


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric setting; None is unbounded on that side."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def violation(self, x: float) -> str | None:
        """Why ``x`` is outside the range (None when inside). NaN is never inside."""
        if isinstance(x, float) and math.isnan(x):
            return "must be a number, got nan"
        for bound, ok, sign in ((self.ge, lambda b: x >= b, "≥"), (self.gt, lambda b: x > b, ">"),
                                (self.le, lambda b: x <= b, "≤"), (self.lt, lambda b: x < b, "<")):
            if bound is not None and not ok(bound):
                return f"must be {sign} {bound:g}, got {x:g}"
        return None

    def describe(self) -> str:
        """The range as text, e.g. '> 0' or '[0, 0.5)'."""
        lo = f"[{self.ge:g}" if self.ge is not None else (
            f"({self.gt:g}" if self.gt is not None else None)
        hi = f"{self.le:g}]" if self.le is not None else (
            f"{self.lt:g})" if self.lt is not None else None)
        if lo and hi:
            return f"{lo}, {hi}"
        if lo:
            return ("≥ " if lo[0] == "[" else "> ") + lo[1:]
        if hi:
            return ("≤ " if hi[-1] == "]" else "< ") + hi[:-1]
        return "any"


Choices = tuple[str, ...] | Callable[[], Iterable[str]]
"""Allowed values: a tuple, or a function returning them (a registry's keys, read lazily)."""


def setting(default: Any = MISSING, *, help: str, ge: float | None = None,
            gt: float | None = None, le: float | None = None, lt: float | None = None,
            choices: Choices | None = None, default_factory: Any = MISSING,
            cli: bool = True) -> Any:
    """A dataclass field with its help text, range and choices in its metadata.

    ``cli=False`` keeps the field out of generated command-line options (for fields that the
    command fills itself, such as a nested config).
    """
    meta = {"help": help, "range": Range(ge, gt, le, lt), "choices": choices, "cli": cli}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def choices_of(f) -> tuple[str, ...] | None:
    """The allowed values of field ``f`` (None when free)."""
    c = f.metadata.get("choices")
    if c is None:
        return None
    return tuple(c() if callable(c) else c)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` fits a simple annotation (int, float, str, bool, tuple[...], None, |)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return _is_number(value)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, tuple)
    return True  # other types (nested configs, paths, callables) are checked by their owners


def check(obj: Any) -> None:
    """Check every field of the dataclass ``obj`` against its type, range and choices.

    Raises ConfigError ``"<Class>.<field>: <why>"`` for the first field out of its domain.
    """
    hints = typing.get_type_hints(type(obj))
    name = type(obj).__name__
    for f in fields(obj):
        value = getattr(obj, f.name)
        hint = hints.get(f.name, Any)
        if not _accepts(hint, value):
            raise ConfigError(f"{name}.{f.name}: expected {_type_name(hint)}, "
                              f"got {type(value).__name__} {value!r}")
        if not f.metadata:
            continue
        if _is_number(value):
            why = f.metadata["range"].violation(value)
            if why:
                raise ConfigError(f"{name}.{f.name}: {why}")
        allowed = choices_of(f)
        if allowed is not None and value is not None:
            items = value if isinstance(value, tuple) else (value,)
            bad = [v for v in items if v not in allowed]
            if bad:
                raise ConfigError(f"{name}.{f.name}: unknown value {bad[0]!r}; choose one of "
                                  f"{', '.join(allowed)}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def help_of(cls: type, name: str) -> str:
    """The help text of field ``name`` of config class ``cls``."""
    return next(f.metadata.get("help", "") for f in fields(cls) if f.name == name)


def first_difference(saved: Any, given: Any, path: str = "") -> str | None:
    """Where two JSON-like values first differ, as ``"field.sub: SAVED (saved) vs GIVEN
    (given)"``; None when equal. Used by every resume refusal to name the option that differs."""
    if isinstance(saved, dict) and isinstance(given, dict):
        for key in sorted(set(saved) | set(given), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in saved:
                return f"{sub}: absent (saved) vs {given[key]!r} (given)"
            if key not in given:
                return f"{sub}: {saved[key]!r} (saved) vs absent (given)"
            diff = first_difference(saved[key], given[key], sub)
            if diff:
                return diff
        return None
    if isinstance(saved, list) and isinstance(given, list) and len(saved) == len(given):
        for i, (a, b) in enumerate(zip(saved, given, strict=True)):
            diff = first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if saved != given:
        return f"{path or 'value'}: {saved!r} (saved) vs {given!r} (given)"
    return None
