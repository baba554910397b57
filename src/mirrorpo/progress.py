"""How long-running library functions report progress, without a console of their own.

A job takes ``progress``: a function ``(description, total) → context manager yielding
advance(n)``. The command line passes rich progress bars with ETA; from Python the default,
:func:`no_progress`, shows nothing. ``log`` functions take one line of text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

Advance = Callable[[int], None]
Progress = Callable[[str, int], AbstractContextManager[Advance]]
Log = Callable[[str], None]


@contextlib.contextmanager
def no_progress(description: str, total: int) -> Iterator[Advance]:
    """A progress reporter that reports nothing."""
    yield lambda n=1: None


def no_log(line: str) -> None:
    """A log that drops its lines."""
