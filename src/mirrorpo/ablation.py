"""Knock-out ablation of a discovered MPO/TA-MPO loss: which of its terms matter?

Each variant drops one term of ``mirrorpo.losses.mpo.TERMS`` — sets its coordinates to their
neutral value — and keeps every other coordinate, β included (docs/mpo.md, "Knock-out
terms"):

* a weight of f, g, the anchors or the imitation term: 0;
* the reference weight r: 1 (full reference); the length power s: 0 (summed ℓ);
* the margin m (g's asymmetry about z = 0): 0;
* a TA-MPO schedule α(τ) or ρ(τ): constant at its mean over training,
  (v(0) + 2v(½) + v(1)) / 4, so the term keeps its total weight and loses only its timing
  (its start value would also rescale it, and ρ(0) = 0 would drop the preference part).

A term the loss already has at its neutral value (a weight ≤ 0, r ≥ 1, a constant schedule)
gives no variant; it is listed as skipped. Variants are loss files like the original's, with
its ``fitted_on`` (so confirmations still refuse the draws it was fitted on) and two more keys,
``ablation_of`` and ``dropped``; ``mirrorpo confirm`` reports such candidates as exploratory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from mirrorpo.config import check, setting
from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses.mpo import (
    TERMS,
    MPOLoss,
    MPOParams,
    Term,
    from_vector,
    load_mpo,
    param_names,
    to_vector,
)

MANIFEST = "manifest.json"
PREFIX = "drop-"
"""Variant files are ``DIR/drop-<term>.json``, so ``DIR/drop-*.json`` names them all."""
CLIPPED = ("length_power", "ref_switch")


@dataclass(frozen=True)
class AblationConfig:
    """A knock-out ablation of one loss file."""

    loss: str = setting(help="The discovered MPO/TA-MPO loss file (a search's best.json).")

    def __post_init__(self):
        check(self)


@dataclass(frozen=True)
class Variant:
    """The original with ``term`` dropped; ``loss`` is None when the term is already neutral
    (no variant). ``changes``: coordinate → (original, variant) raw values."""

    term: Term
    loss: MPOLoss | None
    changes: dict[str, tuple[float, float]]

    @property
    def label(self) -> str:
        return PREFIX + self.term.name


def used_value(name: str, value: float) -> float:
    """The value the loss uses for coordinate ``name`` (docs/mpo.md, the flat vector): s and
    r clipped to [0, 1], weights and schedule knots max(·, 0), the rest as they are."""
    if name in CLIPPED:
        return min(max(value, 0.0), 1.0)
    if name.startswith(("w_", "lam_", "anchor_", "alpha", "rho")):
        return max(value, 0.0)
    return value


def neutral_values(p: MPOParams, term: Term) -> dict[str, float]:
    """Coordinate → neutral value of ``term``; "mean": the mean of the used knot values."""
    if term.neutral == "mean":
        v0, vh, v1 = (used_value(n, getattr(p, n)) for n in term.coords)
        mean = (v0 + 2 * vh + v1) / 4
        return dict.fromkeys(term.coords, mean)
    return dict.fromkeys(term.coords, float(term.neutral))


def knock_out(loss: MPOLoss, term: Term) -> Variant:
    """The variant of ``loss`` without ``term`` (module docstring); ValueError when the term
    is not one of the loss's family."""
    if loss.family not in term.families:
        raise ValueError(f"term {term.name} is not in the {loss.family} family")
    p = loss.params
    new = neutral_values(p, term)
    if all(used_value(n, getattr(p, n)) == used_value(n, v) for n, v in new.items()):
        return Variant(term, None, {})
    params = replace(p, **new)
    params = from_vector(to_vector(params, loss.family), loss.family)  # MPO ties α(½), α(1)
    changes = {n: (getattr(p, n), getattr(params, n)) for n in term.coords
               if n in param_names(loss.family) and getattr(p, n) != getattr(params, n)}
    return Variant(term, MPOLoss(loss.family, params, loss.fitted_on), changes)


def variants(loss: MPOLoss) -> list[Variant]:
    """One :class:`Variant` per term of the loss's family, in ``TERMS`` order."""
    return [knock_out(loss, t) for t in TERMS if loss.family in t.families]


def variant_json(v: Variant, original: str) -> dict:
    """The variant's loss file: the family's own format plus ``ablation_of`` and
    ``dropped``."""
    return {**v.loss.to_json(), "ablation_of": original, "dropped": v.term.name}


def ablation_of(path: str | Path) -> str | None:
    """The original a loss file is a knock-out variant of (its ``ablation_of``), or None."""
    raw = read_json(path, "loss file")
    return raw.get("ablation_of") if isinstance(raw, dict) else None


def ablate(config: AblationConfig, out: str | Path, *, force: bool = False) -> list[Variant]:
    """Write ``out/drop-<term>.json`` for each variant and ``out/manifest.json`` (variants,
    their changes and formulas, the skipped terms); ``out`` is checked before any work, an
    existing ablation replaced whole only with ``force``. Returns every term's
    :class:`Variant`."""
    from mirrorpo.outputs import atomic_dir, check_output_dir

    try:
        loss = load_mpo(config.loss)
    except (ValueError, OSError) as exc:
        raise ValueError(f"AblationConfig.loss: {exc}") from None
    check_output_dir(out, MANIFEST, "knock-out ablation", force=force)
    found = variants(loss)
    manifest = {
        "ablation_of": config.loss, "family": loss.family,
        "formula": loss.to_json()["formula"], "fitted_on": list(loss.fitted_on),
        "variants": [{"label": v.label, "term": v.term.name, "part": v.term.part,
                      "file": f"{v.label}.json",
                      "changes": {n: list(c) for n, c in v.changes.items()},
                      "formula": v.loss.to_json()["formula"]} for v in found if v.loss],
        "skipped": [{"label": v.label, "term": v.term.name, "part": v.term.part,
                     "why": "already neutral in the original"} for v in found if not v.loss],
        "kept": "β and the shapes of terms (rates, locations); every coordinate not listed "
                "under a variant's changes",
    }
    with atomic_dir(out) as tmp:
        for v in found:
            if v.loss is not None:
                write_text_atomic(tmp / f"{v.label}.json",
                                  json.dumps(variant_json(v, config.loss), indent=2) + "\n")
        write_text_atomic(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return found
