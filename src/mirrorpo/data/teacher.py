"""Simulated preference teacher over segment returns (the B-Pref knobs).

Lee, Smith, Dragan, Abbeel (2021), "B-Pref: Benchmarking Preference-Based Reinforcement Learning",
§3.2. For a pair of segments with per-step rewards r⁰, r¹ of length H:

    R^i = Σ_t γ^(H−1−t) r^i_t                      (myopic discount γ ≤ 1; γ = 1: true return)
    skip   if max(R⁰, R¹) < ε_skip · scale           (neither segment is worth judging)
    equal  if |R⁰ − R¹| < ε_equal · scale            (indistinguishable)
    P(1 ≻ 0) = σ((R¹ − R⁰) / (T · scale))            (Bradley–Terry, temperature T; T = 0: argmax)
    label flipped with probability ε                  (mistake rate)

``scale`` is the mean absolute true segment return over the first chunk of candidate pairs
(up to 1024; recorded on the card as ``teacher_scale``), so thresholds and temperature are
unit-free and carry across environments. Pairwise PO losses need a strict
preference, so *equal* and *skip* pairs are dropped and counted on the dataset card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mirrorpo.blas import one_blas_thread

SKIPPED, EQUAL = -1, -2


@dataclass(frozen=True)
class TeacherConfig:
    """B-Pref teacher settings; all thresholds are fractions of the return scale."""

    temperature: float = 0.0
    """Bradley–Terry temperature T ≥ 0 (0: rational argmax)."""
    mistake_rate: float = 0.0
    """Probability ε ∈ [0, 0.5] that the teacher's label is flipped."""
    myopic_discount: float = 1.0
    """γ ∈ (0, 1]: weight γ^(H−1−t) on step t, favouring the segment's end."""
    equal_threshold: float = 0.0
    """ε_equal ≥ 0: pairs closer than this are 'equal' and dropped."""
    skip_threshold: float = -np.inf
    """ε_skip: pairs whose better segment is below this are skipped."""

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError("temperature must be >= 0")
        if not 0.0 <= self.mistake_rate <= 0.5:
            raise ValueError("mistake_rate must be in [0, 0.5]")
        if not 0.0 < self.myopic_discount <= 1.0:
            raise ValueError("myopic_discount must be in (0, 1]")
        if not self.equal_threshold >= 0:
            raise ValueError("equal_threshold must be >= 0")

    def as_dict(self) -> dict:
        d = asdict(self)
        if not np.isfinite(d["skip_threshold"]):
            d["skip_threshold"] = None
        return d


def myopic_returns(rewards: np.ndarray, discount: float) -> np.ndarray:
    """Σ_t γ^(H−1−t) r_t over the last axis of ``rewards`` (..., H)."""
    h = rewards.shape[-1]
    weights = discount ** np.arange(h - 1, -1, -1, dtype=np.float64)
    with one_blas_thread():  # the same bits for any thread count (mirrorpo.blas)
        return rewards @ weights


def label_pairs(
    rewards0: np.ndarray,
    rewards1: np.ndarray,
    cfg: TeacherConfig,
    rng: np.random.Generator,
    scale: float | None = None,
) -> np.ndarray:
    """Teacher labels for N pairs of reward sequences (N, H) each.

    Returns int array (N,): 1 if segment 1 is preferred, 0 if segment 0 is, ``SKIPPED`` or
    ``EQUAL`` for dropped pairs. Random draws (BT, mistakes) are made for every pair, so a
    pair's label does not depend on which other pairs were dropped.
    """
    true0, true1 = rewards0.sum(-1), rewards1.sum(-1)
    if scale is None:
        scale = float(np.mean(np.abs(np.concatenate([true0, true1])))) or 1.0
    r0 = myopic_returns(rewards0, cfg.myopic_discount)
    r1 = myopic_returns(rewards1, cfg.myopic_discount)
    u_bt = rng.random(len(r0))
    u_flip = rng.random(len(r0))
    diff = r1 - r0
    if cfg.temperature > 0:
        p1 = 1.0 / (1.0 + np.exp(-np.clip(diff / (cfg.temperature * scale), -500, 500)))
        labels = (u_bt < p1).astype(np.int64)
    else:
        labels = (diff > 0).astype(np.int64)
    flip = u_flip < cfg.mistake_rate
    labels = np.where(flip, 1 - labels, labels)
    labels[np.abs(diff) < cfg.equal_threshold * scale] = EQUAL
    if cfg.temperature == 0 and cfg.equal_threshold == 0:
        labels[diff == 0] = EQUAL  # exact ties carry no preference
    labels[np.maximum(r0, r1) < cfg.skip_threshold * scale] = SKIPPED
    return labels
