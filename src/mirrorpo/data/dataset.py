"""The preference-dataset format: ``pairs.npz`` + ``card.json`` in one directory.

``pairs.npz`` is a plain (uncompressed, pickle-free) NumPy archive with the arrays of
:data:`SCHEMA`; ``card.json`` holds the full config and measured properties. Shapes use
N pairs, H horizon, O observation dim, A action dim, Q = nq, V = nv. Segment arrays past a
segment's length are zero. The archive is written with fixed zip timestamps, so identical
content gives identical bytes.

The card records the arrays' content fingerprint (:func:`fingerprint`): a search records the
fingerprints of the datasets its fitness trained on, and the meta-test refuses those.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAIRS_FILE = "pairs.npz"
CARD_FILE = "card.json"
FORMAT = "mirrorpo.preferences/1"

# name -> (dtype, shape in symbols)
SCHEMA: dict[str, tuple[str, tuple[str, ...]]] = {
    "start_qpos": ("float64", ("N", "Q")),
    "start_qvel": ("float64", ("N", "V")),
}
for _side in ("chosen", "rejected"):
    SCHEMA |= {
        f"{_side}_obs": ("float32", ("N", "H", "O")),
        f"{_side}_actions": ("float32", ("N", "H", "A")),
        f"{_side}_rewards": ("float64", ("N", "H")),
        f"{_side}_length": ("int32", ("N",)),
        f"{_side}_terminated": ("bool", ("N",)),
        f"{_side}_level": ("int16", ("N",)),
    }


REQUIRED_CARD_FIELDS = ("env", "preset", "seed", "num_pairs", "horizon", "obs_dim", "act_dim",
                        "nq", "nv", "teacher", "level_mix", "properties")
CARD_PROPERTIES = ("label_agreement", "mean_score_chosen", "mean_score_rejected",
                   "mean_return_chosen", "mean_return_rejected", "count_per_level",
                   "candidates", "dropped_equal", "dropped_skipped", "mean_segment_length",
                   "terminated_fraction")


FINGERPRINT_CHARS = 16
"""Hex characters of a fingerprint (64 bits of the SHA-256)."""


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """The content fingerprint of a dataset's arrays: the first 16 hex characters of the
    SHA-256 over every array in name order (its name, dtype, shape and little-endian bytes).

    Deterministic: the same arrays give the same fingerprint on every machine, and any change
    of a value, a shape or a dtype changes it."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.asarray(arrays[name])
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        h.update(f"{name}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr)
    return h.hexdigest()[:FINGERPRINT_CHARS]


class DatasetError(ValueError):
    """A dataset file is missing, malformed or inconsistent (message names the file)."""


@dataclass(frozen=True)
class PreferenceDataset:
    """Validated arrays (see SCHEMA) and the card of one dataset directory."""

    arrays: dict[str, np.ndarray]
    card: dict

    @property
    def num_pairs(self) -> int:
        return int(self.arrays["chosen_length"].shape[0])

    @property
    def horizon(self) -> int:
        return int(self.arrays["chosen_rewards"].shape[1])

    def returns(self, side: str) -> np.ndarray:
        """True (undiscounted) segment returns of the 'chosen' or 'rejected' side. (N,)"""
        return self.arrays[f"{side}_rewards"].sum(axis=1)

    def mask(self, side: str) -> np.ndarray:
        """(N, H) bool: steps inside the segment."""
        return np.arange(self.horizon)[None, :] < self.arrays[f"{side}_length"][:, None]

    @property
    def fingerprint(self) -> str:
        """The arrays' content fingerprint (:func:`fingerprint`), computed from them."""
        return fingerprint(self.arrays)


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez`` but with fixed zip timestamps and sorted members (byte-reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())


def is_dataset_dir(path: Path) -> bool:
    return (path / PAIRS_FILE).exists() or (path / CARD_FILE).exists()


def save_dataset(out_dir: Path, arrays: dict[str, np.ndarray], card: dict, *,
                 overwrite: bool = False) -> None:
    """Write a dataset directory; refuses to replace an existing one unless ``overwrite``,
    and any other non-empty directory always (mirrorpo.outputs.check_output_dir).

    Both files are written into a temporary directory that then replaces ``out_dir`` whole
    (mirrorpo.outputs.atomic_dir): a crash leaves the old dataset or the new one, never a mix.
    The card is written with the arrays' ``fingerprint`` (replacing any it holds).
    """
    from mirrorpo.outputs import atomic_dir, check_output_dir

    out_dir = Path(out_dir)
    check_output_dir(out_dir, CARD_FILE, "dataset", force=overwrite)
    check_arrays(arrays, out_dir / PAIRS_FILE, card)
    card = {**card, "fingerprint": fingerprint(arrays)}
    with atomic_dir(out_dir) as tmp:
        write_npz_deterministic(tmp / PAIRS_FILE, arrays)
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def _dims(card: dict) -> dict[str, int]:
    return {
        "N": int(card["num_pairs"]),
        "H": int(card["horizon"]),
        "O": int(card["obs_dim"]),
        "A": int(card["act_dim"]),
        "Q": int(card["nq"]),
        "V": int(card["nv"]),
    }


def check_arrays(arrays: dict[str, np.ndarray], path: Path, card: dict) -> None:
    """Raise DatasetError unless ``arrays`` match SCHEMA, the card's sizes, and are finite."""
    dims = _dims(card)
    missing = sorted(set(SCHEMA) - set(arrays))
    if missing:
        raise DatasetError(f"{path}: missing arrays {', '.join(missing)}")
    extra = sorted(set(arrays) - set(SCHEMA))
    if extra:
        raise DatasetError(f"{path}: unexpected arrays {', '.join(extra)}")
    for name, (dtype, symbols) in SCHEMA.items():
        arr = arrays[name]
        want = tuple(dims[s] for s in symbols)
        if arr.dtype != np.dtype(dtype):
            raise DatasetError(f"{path}: array '{name}' has dtype {arr.dtype}, expected {dtype}")
        if arr.shape != want:
            shape = "×".join(symbols)
            raise DatasetError(
                f"{path}: array '{name}' has shape {arr.shape}, expected {want} ({shape})"
            )
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DatasetError(f"{path}: array '{name}' contains NaN or infinite values")
    n_levels = int(card.get("num_levels", np.iinfo(np.int16).max))
    for side in ("chosen", "rejected"):
        length = arrays[f"{side}_length"]
        if ((length < 1) | (length > dims["H"])).any():
            raise DatasetError(f"{path}: '{side}_length' outside [1, {dims['H']}]")
        level = arrays[f"{side}_level"]
        if ((level < 0) | (level >= n_levels)).any():
            raise DatasetError(f"{path}: '{side}_level' outside [0, {n_levels - 1}]")


def read_card(path: Path) -> dict:
    """The card.json of dataset directory ``path``, checked: required fields, their types
    (``mirrorpo.schemas.DatasetCard``: teacher, level_mix, properties included), and that its
    env is a suite env whose obs_dim, act_dim, nq and nv it repeats. Errors are DatasetErrors
    naming card.json and the field."""
    from mirrorpo.envs import ENV_NAMES, SPECS
    from mirrorpo.schemas import DatasetCard, validate

    card_path = Path(path) / CARD_FILE
    if not card_path.is_file():
        raise DatasetError(f"{card_path}: no such file (not a mirrorpo dataset directory?)")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{card_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{card_path}: not valid JSON (not UTF-8 text)") from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits, deep nesting
        raise DatasetError(f"{card_path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise DatasetError(f"{card_path}: not a mirrorpo dataset card (format must be {FORMAT})")
    for key in REQUIRED_CARD_FIELDS:
        if key not in card:
            raise DatasetError(f"{card_path}: missing field '{key}'")
    for key in ("num_pairs", "horizon", "obs_dim", "act_dim", "nq", "nv"):
        if not isinstance(card[key], int) or isinstance(card[key], bool) or card[key] < 1:
            raise DatasetError(f"{card_path}: field '{key}' must be a positive integer")
    props = card["properties"]
    missing = [k for k in CARD_PROPERTIES if not isinstance(props, dict) or k not in props]
    if missing:
        raise DatasetError(f"{card_path}: 'properties' lacks {', '.join(missing)}")
    validate(DatasetCard, card, card_path, error=DatasetError)
    env = card["env"]
    if env not in SPECS:
        raise DatasetError(f"{card_path}: env: unknown env {env!r:.60}; a dataset is of one of "
                           f"{', '.join(ENV_NAMES)}")
    spec = SPECS[env]
    for key in ("obs_dim", "act_dim", "nq", "nv"):
        if card[key] != getattr(spec, key):
            raise DatasetError(f"{card_path}: {key}: {card[key]} does not match env '{env}' "
                               f"(its {key} is {getattr(spec, key)})")
    return card


def load_dataset(path: str | Path) -> PreferenceDataset:
    """Load and validate a dataset directory; raises DatasetError naming the bad file. A card
    with a ``fingerprint`` (cards written before it existed have none) must match the arrays."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset directory")
    card = read_card(path)
    pairs_path = path / PAIRS_FILE
    if not pairs_path.is_file():
        raise DatasetError(f"{pairs_path}: no such file")
    try:
        with np.load(pairs_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DatasetError(f"{pairs_path}: truncated or not a valid .npz archive ({exc})") from None
    except ValueError as exc:  # pickled object arrays, corrupt headers
        raise DatasetError(f"{pairs_path}: unreadable array ({exc})") from None
    check_arrays(arrays, pairs_path, card)
    if "fingerprint" in card and card["fingerprint"] != fingerprint(arrays):
        raise DatasetError(f"{path / CARD_FILE}: fingerprint {card['fingerprint']} does not "
                           f"match the arrays of {PAIRS_FILE} ({fingerprint(arrays)}): the "
                           "dataset was changed after it was saved")
    return PreferenceDataset(arrays, card)
