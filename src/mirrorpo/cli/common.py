"""What every command module shares: consoles, one-line errors, progress bars."""

from __future__ import annotations

import functools
import re
import sys
from contextlib import contextmanager

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console()
err_console = Console(stderr=True)

class UserError(Exception):
    """An error caused by the user's input: reported in one line, exit code 2."""


EXPECTED = (UserError, ValueError, FileNotFoundError, FileExistsError, PermissionError,
            IsADirectoryError, NotADirectoryError)
"""Errors that bad input causes: one line, exit 2. Anything else is a bug: traceback."""

_FIELD = re.compile(r"\b[A-Z]\w*Config\.(\w+)")


_ARGUMENT = re.compile(r"`(force|resume)`")


def flag_names(message: str) -> str:
    """Library messages name config fields (``TrainConfig.steps``) and keyword arguments
    (`force`); a command-line user knows them as flags (``--steps``, ``--force``)."""
    message = _ARGUMENT.sub(lambda m: "--" + m.group(1), message)
    return _FIELD.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)


def one_line(exc: BaseException) -> str:
    """The message of an expected error, on one line, with flag names."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return flag_names(" ".join(text.split()))


def friendly_errors(fn):
    """Report expected failures as one line on stderr with exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EXPECTED as exc:
            err_console.print(f"[red]error:[/red] {escape(one_line(exc))}", highlight=False,
                              soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper


def threads_option(fn):
    """``--threads N``: torch and MuJoCo threads of this process (default 2, the machine's
    cores; pin two runs side by side to one core each with ``taskset`` and ``--threads 1``)."""
    return click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
                        help="torch (and MuJoCo) threads of this process.")(fn)


@contextmanager
def progress_bar(description: str, total: int):
    """A rich progress bar with ETA; yields ``advance(n)``."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)
        prog.update(task, completed=total)
