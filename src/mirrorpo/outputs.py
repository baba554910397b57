"""Output directories: checked before any work, replaced only on request, swapped in whole.

Every job that writes a directory first calls :func:`check_output_dir`, which refuses, before
anything is computed, a path that is an existing file, a directory that cannot be written, a
directory that already holds a result of the same kind (unless ``force``) and a non-empty
directory that holds something else (always: mirrorpo never deletes files it did not write).
A directory of mirrorpo's is recognised by its marker file (``card.json`` for a dataset,
``run.json`` for a training run, ...).

A result written once (a dataset, a training run) is written by :func:`atomic_dir` into a
temporary sibling directory and then exchanged with the target in one ``renameat2`` system call
(Linux), so a crash at any instant leaves the old directory or the new one under the target
name, never a mix. Where the exchange is not available, the old directory is first renamed
aside (a crash between the two renames then leaves it there, under ``.NAME.old-*``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot or must not be written (the message names it)."""


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor."""
    p = Path(os.path.abspath(path))
    while not p.exists():
        p = p.parent
    return p


def check_writable(path: Path) -> None:
    """Refuse a path whose directory (or nearest existing ancestor) is not writable, or whose
    ancestor is a file."""
    base = nearest_existing(path)
    if not base.is_dir():
        raise OutputError(f"{path}: cannot create it, {base} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: not writable ({base} does not allow writing)")


def check_output_dir(path: str | Path, marker: str, kind: str, *, force: bool = False,
                     resume: bool = False, can_resume: bool = False) -> Path:
    """Check, before any work, that directory ``path`` may receive a ``kind`` result.

    * a file at ``path``, or an unwritable place: refused;
    * an empty or missing directory: fine;
    * a directory holding ``marker`` (a result of this kind): fine with ``force`` (it will be
      replaced) or ``resume`` (it will be continued), refused otherwise (the message names
      `resume` when ``can_resume``, else `force`);
    * any other non-empty directory: refused, even with ``force``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, not a directory")
    check_writable(path)
    if not path.exists() or not any(path.iterdir()):
        return path
    if (path / marker).exists():
        if not (force or resume):
            how = "`resume` continues it" if can_resume else "`force` replaces it"
            raise OutputError(f"{path}: already holds a {kind} ({marker}); {how}, or choose "
                              "another directory")
        return path
    raise OutputError(f"{path}: holds other files and no {kind} ({marker}); choose a new or "
                      "empty directory")


def check_output_file(path: str | Path, *, force: bool = False) -> Path:
    """Refuse an existing file (unless ``force``), a directory, or an unwritable place."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, not a file")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists (`force` replaces it)")
    check_writable(path)
    return path


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when
    the system does not offer it. Hand-written: the standard library has no exchange."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success it replaces ``path``
    whole (see the module docstring), on an exception it is removed and ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not path.exists():
        tmp.replace(path)
        return
    if exchange(tmp, path):  # tmp now holds the old directory
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    old.rmdir()
    path.replace(old)
    tmp.replace(path)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale_temps(path: str | Path) -> None:
    """Remove the temporary siblings :func:`atomic_dir` left beside ``path`` when a process
    was killed inside it (``.NAME.new-*``); call only where no other process writes ``path``."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)


def refuse_other_config(path: str | Path, record: dict, kind: str,
                        how: str = "pass the same config to resume it",
                        ignore: tuple[str, ...] = ()) -> None:
    """Refuse to continue a run whose saved config ``path`` differs from ``record`` (JSON),
    naming the first field that differs (FileExistsError); nothing when absent or equal.
    Top-level keys in ``ignore`` may differ (options that a run accepts changing)."""
    from mirrorpo.config import first_difference
    from mirrorpo.fileio import read_json

    path = Path(path)
    if not path.exists():
        return
    saved = read_json(path, f"{kind} config")
    given = json.loads(json.dumps(record))
    if isinstance(saved, dict):
        saved = {k: v for k, v in saved.items() if k not in ignore}
    given = {k: v for k, v in given.items() if k not in ignore}
    diff = first_difference(saved, given)
    if diff:
        raise FileExistsError(f"{path}: holds a different {kind} ({diff}); {how}, or choose "
                              "another directory")
