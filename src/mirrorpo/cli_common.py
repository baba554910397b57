"""What every command-line module shares: consoles, one-line errors, progress bars."""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager

from rich.console import Console
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


def friendly_errors(fn):
    """Report expected failures as one line on stderr with exit code 2 (no traceback)."""
    from mirrorpo.data.dataset import DatasetError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UserError, DatasetError, FileNotFoundError, FileExistsError, ValueError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper


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
