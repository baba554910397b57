"""Command-line options generated from config dataclasses (one source of every default).

``config_options(Config)`` adds one click option per field declared with
:func:`mirrorpo.config.setting`: ``--field-name``, its type, range and choices, its default and
its help text, all read from the field. ``from_options(Config, kwargs)`` builds the config back
from click's keyword arguments; the config then checks itself. A command that needs an option
under another name (two configs with a ``learning_rate``) passes ``rename``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

import click

from mirrorpo.config import Range, choices_of


class CommaList(click.ParamType):
    """A comma-separated list → tuple of ``item`` (str, int or float; empty entries
    dropped)."""

    name = "LIST"

    def __init__(self, item: type = str):
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        out = []
        for v in (v.strip() for v in str(value).split(",")):
            if not v:
                continue
            try:
                out.append(self.item(v))
            except ValueError:
                self.fail(f"{v!r} is not a{'n' if self.item is int else ''} "
                          f"{self.item.__name__}", param, ctx)
        return tuple(out)


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the non-None type of an annotation, whether None is allowed)."""
    args = typing.get_args(hint)
    if args and type(None) in args and typing.get_origin(hint) is not tuple:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def _click_type(f, hint: Any):
    base, _ = _base_type(hint)
    rng = f.metadata["range"]
    allowed = choices_of(f)
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0] if typing.get_args(base) else str
        return CommaList(item if item in (int, float) else str)
    if allowed is not None:
        return click.Choice(list(allowed))
    if base is int:
        lo = rng.ge if rng.ge is not None else (rng.gt + 1 if rng.gt is not None else None)
        hi = rng.le if rng.le is not None else (rng.lt - 1 if rng.lt is not None else None)
        return click.IntRange(min=None if lo is None else int(lo),
                              max=None if hi is None else int(hi))
    if base is float:
        if rng == Range():  # unbounded: a FloatRange would show "[x<=None]"
            return click.FLOAT
        return click.FloatRange(min=rng.ge if rng.ge is not None else rng.gt,
                                max=rng.le if rng.le is not None else rng.lt,
                                min_open=rng.gt is not None, max_open=rng.lt is not None)
    return click.STRING


def _default(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def cli_fields(cls: type, exclude: tuple[str, ...] = ()) -> list:
    """The fields of ``cls`` that become options."""
    return [f for f in fields(cls) if f.metadata.get("cli") and f.name not in exclude]


def config_options(cls: type, *, exclude: tuple[str, ...] = (),
                   rename: dict[str, str] | None = None,
                   required: tuple[str, ...] = ()) -> Callable:
    """Decorator adding an option per CLI field of ``cls`` (see the module docstring)."""
    rename = rename or {}
    hints = typing.get_type_hints(cls)

    def decorate(fn: Callable) -> Callable:
        for f in reversed(cli_fields(cls, exclude)):
            dest = rename.get(f.name, f.name)
            flag = "--" + dest.replace("_", "-")
            hint = hints[f.name]
            base, optional = _base_type(hint)
            default = _default(f)
            help_text = f.metadata["help"]
            if base is bool:  # --x/--no-x, so a flag that is on by default can be turned off
                flags = f"{flag}/--no-{flag[2:]}"
                fn = click.option(flags, dest, is_flag=True, default=bool(default),
                                  show_default=bool(default), help=help_text)(fn)
                continue
            kwargs: dict[str, Any] = {"type": _click_type(f, hint), "help": help_text}
            if default is MISSING or f.name in required:
                kwargs["required"] = True
            else:
                if isinstance(default, tuple):
                    default = ",".join(map(str, default)) or None
                kwargs["default"] = default
                kwargs["show_default"] = default is not None
            fn = click.option(flag, dest, **kwargs)(fn)
        return fn

    return decorate


def from_options(cls: type, kwargs: dict, *, rename: dict[str, str] | None = None,
                 exclude: tuple[str, ...] = (), **extra: Any):
    """``cls`` built from click's ``kwargs`` (its CLI fields) and ``extra`` fields."""
    rename = rename or {}
    values = {}
    for f in cli_fields(cls, exclude):
        value = kwargs[rename.get(f.name, f.name)]
        if value is None and isinstance(_default(f), tuple):
            value = _default(f)  # an empty list default is shown as no default
        values[f.name] = value
    return cls(**{**values, **extra})
