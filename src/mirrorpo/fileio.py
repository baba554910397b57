"""Crash-safe file writes: a reader sees the old file or the whole new one, never half."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary sibling and an atomic rename; the sibling is
    named by process, so processes that share a directory never rename each other's."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_csv_atomic(path: str | Path, rows: list[dict],
                     fieldnames: list[str] | None = None) -> Path:
    """Rows as CSV (columns ``fieldnames``, default the first row's keys), written atomically."""
    import csv
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=fieldnames or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def read_json(path: str | Path, what: str):
    """Parsed JSON of ``path``; one-line errors naming the file (``what`` names the kind)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def strict_json(x):
    """``x`` with every NaN or ±inf float replaced by None (JSON has no such numbers)."""
    if isinstance(x, dict):
        return {k: strict_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [strict_json(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
