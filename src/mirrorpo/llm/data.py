"""Preference data for the LLM trainer: prompt / chosen / rejected rows.

Rows are plain text (``"prompt": str``, ``"chosen": str``, ``"rejected": str``) or
conversational (lists of ``{"role", "content"}`` messages), as TRL's DPO trainer takes them.
Conversational rows may leave the prompt implicit (no ``prompt``; ``chosen`` and ``rejected``
start with the same messages, as in ``trl-lib/ultrafeedback_binarized``): the shared leading
messages become the prompt (TRL's ``extract_prompt``). They are read from a JSONL file (one
JSON object per line) or from a directory written by ``datasets.Dataset.save_to_disk``.
Every row is checked; the first bad one gives a one-line error naming the file, the line (or
row) and what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ("prompt", "chosen", "rejected")


def with_explicit_prompt(row: dict) -> dict:
    """``row`` with its implicit prompt (the messages ``chosen`` and ``rejected`` share at
    the start) split out; rows that have a prompt, or are not conversational, unchanged."""
    if "prompt" in row or not all(isinstance(row.get(k), list) for k in ("chosen", "rejected")):
        return row
    from trl.data_utils import extract_prompt

    return {**row, **extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})}


def row_problem(row: object) -> str | None:
    """Why ``row`` is not a preference row, or None (implicit prompts already split out)."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if row.get("prompt") == [] and isinstance(row.get("chosen"), list):
        return "no 'prompt', and 'chosen' and 'rejected' share no leading messages"
    for key in COLUMNS:
        if key not in row:
            return f"missing '{key}'"
        value = row[key]
        if isinstance(value, str):
            if key != "prompt" and not value.strip():
                return f"'{key}' is empty"
            continue
        if not isinstance(value, list) or not value or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str) for m in value):
            return f"'{key}' must be a string or a non-empty list of {{role, content}} messages"
    kinds = {isinstance(row[k], str) for k in COLUMNS}
    if len(kinds) > 1:
        return "mixes plain-text and conversational fields"
    return None


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if isinstance(row, dict):
                row = with_explicit_prompt(row)
            problem = row_problem(row)
            if problem:
                raise ValueError(f"{path}:{n}: {problem}")
            rows.append({k: row[k] for k in COLUMNS})
    if not rows:
        raise ValueError(f"{path}: no preference rows")
    return rows


def load_preferences(path: str | Path):
    """A ``datasets.Dataset`` with the columns prompt, chosen, rejected."""
    from datasets import Dataset, load_from_disk

    path = Path(path)
    if path.is_file():
        return Dataset.from_list(read_jsonl(path))
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such preference file or dataset directory")
    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSONL file or a saved datasets directory ({exc})") \
            from None
    if "prompt" not in ds.column_names and {"chosen", "rejected"} <= set(ds.column_names):
        ds = ds.map(with_explicit_prompt)
    missing = [c for c in COLUMNS if c not in ds.column_names]
    if missing:
        raise ValueError(f"{path}: dataset lacks column(s) {', '.join(missing)}")
    for i, row in enumerate(ds):
        problem = row_problem(row)
        if problem:
            raise ValueError(f"{path}: row {i}: {problem}")
    return ds.select_columns(list(COLUMNS))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    from mirrorpo.fileio import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
