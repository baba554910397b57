"""Paired verdicts: a candidate loss against a tuned baseline on the same draws, seeds and
episodes, with Holm–Bonferroni correction across a protocol's primary comparisons.

Both losses train on the same dataset draws d = 1..D with the same training seeds s = 1..S and
are scored on the same episodes, so each (d, s) gives a paired difference
x_ds = score(candidate) − score(baseline) (a failed member scores 0, as in the benchmark's
aggregates). The estimand is the mean difference over the preset's distribution of draws and
seeds. Two intervals are offered (docs/protocol.md says which a protocol uses and why):

* ``"draw-t"`` (default): a t interval over the D per-draw means x̄_d, mean ± t_{D−1} ·
  sd(x̄_d)/√D. The draw is the unit of generalisation: this interval includes the variation
  between draws, so it speaks about new draws of the preset; with few draws it is wide
  (t_{2, 0.975} = 4.30) — an honest price for D = 3.
* ``"bootstrap"``: a percentile bootstrap that resamples seeds within each draw (stratified by
  draw, as rliable's StratifiedBootstrap), which treats the D draws as fixed: a statement about
  these draws only, narrower.

Holm–Bonferroni (Holm, 1979): sort the m primary comparisons by p-value; the i-th (from 1)
is rejected at level α/(m − i + 1) while all before it were. Its corrected CI is the interval
at level 1 − α/(m − i + 1), which for the t interval excludes 0 exactly when the test rejects.
A candidate wins a target when the corrected comparison against *every* tuned baseline is
rejected with a positive mean difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

METHODS = ("draw-t", "bootstrap")


@dataclass(frozen=True)
class Difference:
    """A paired difference candidate − baseline over (draw, seed)."""

    mean: float
    ci: tuple[float, float]
    """At ``level``."""
    level: float
    p_value: float
    """Two-sided, for mean difference = 0."""
    draws: int
    seeds: int
    method: str


def paired_differences(candidate: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """x_ds = candidate − baseline, each (draws, seeds); a failed member (−inf or NaN) scores
    0, as the benchmark's aggregates count it."""
    a, b = (np.where(np.isfinite(x), x, 0.0) for x in (np.asarray(candidate, float),
                                                        np.asarray(baseline, float)))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired scores must both be (draws, seeds), got {a.shape} and "
                         f"{b.shape}")
    return a - b


def draw_t(diff: np.ndarray, level: float = 0.95) -> Difference:
    """t interval over the per-draw means of ``diff`` (draws, seeds); needs ≥ 2 draws."""
    draws, seeds = diff.shape
    if draws < 2:
        raise ValueError("a t interval over draws needs at least 2 draws")
    means = diff.mean(axis=1)
    m, se = float(means.mean()), float(means.std(ddof=1) / np.sqrt(draws))
    if se == 0.0:  # every draw agrees exactly: the interval is the point
        p = 1.0 if m == 0 else 0.0
        return Difference(m, (m, m), level, p, draws, seeds, "draw-t")
    q = float(sps.t.ppf(0.5 + level / 2, draws - 1))
    p = float(2 * sps.t.sf(abs(m) / se, draws - 1))
    return Difference(m, (m - q * se, m + q * se), level, p, draws, seeds, "draw-t")


def stratified_bootstrap(diff: np.ndarray, level: float = 0.95, reps: int = 10_000,
                         seed: int = 0) -> Difference:
    """Percentile bootstrap of the mean of ``diff`` (draws, seeds), seeds resampled within
    each draw; p is twice the smaller tail mass of the bootstrap distribution at 0."""
    draws, seeds = diff.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, seeds, size=(reps, draws, seeds))
    boots = np.take_along_axis(diff[None], idx, axis=2).mean(axis=(1, 2))  # (reps,)
    lo, hi = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2])
    tail = min(float((boots <= 0).mean()), float((boots >= 0).mean()))
    p = min(1.0, 2 * tail)
    return Difference(float(diff.mean()), (float(lo), float(hi)), level, p, draws, seeds,
                      "bootstrap")


def difference(diff: np.ndarray, method: str = "draw-t", level: float = 0.95) -> Difference:
    """The paired difference of ``diff`` (draws, seeds) by ``method`` (see METHODS)."""
    if method == "draw-t":
        return draw_t(diff, level)
    if method == "bootstrap":
        return stratified_bootstrap(diff, level)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


class FamilySizeError(ValueError):
    """A registered family size below the number of comparisons given."""


def holm(p_values: list[float], alpha: float = 0.05,
         family_size: int | None = None) -> tuple[list[bool], list[float]]:
    """Holm–Bonferroni step-down: (rejected, CI level) per comparison, in the given order.

    The i-th smallest p-value (i from 1) is tested at α/(m − i + 1) while all smaller ones
    were rejected; its level 1 − α/(m − i + 1) is the corrected CI level. ``family_size``:
    a registered m larger than the comparisons given; the missing ones count as p = 1 (not
    rejected, last in the order), which is Holm over the whole family (Holm 1979).
    """
    m = len(p_values) if family_size is None else family_size
    if m < len(p_values):
        raise FamilySizeError(f"family size {m} is smaller than the {len(p_values)} "
                              "comparisons given")
    order = np.argsort(p_values, kind="stable")
    rejected, levels = [False] * len(p_values), [0.0] * len(p_values)
    going = True
    for rank, i in enumerate(order):
        threshold = alpha / (m - rank)
        levels[i] = 1 - threshold
        going = going and p_values[i] < threshold
        rejected[i] = going
    return rejected, levels


@dataclass(frozen=True)
class Verdict:
    """One target's primary comparison: the candidate against each tuned baseline."""

    target: str
    candidate: str
    differences: dict[str, Difference]
    """Baseline → corrected paired difference."""
    rejected: dict[str, bool]
    verdict: str
    """"win" (every corrected difference rejected with a positive mean), "loss" (rejected
    with a negative mean against some baseline), or "no win"."""


def primary_verdicts(comparisons: dict[tuple[str, str], dict[str, np.ndarray]],
                     method: str = "draw-t", alpha: float = 0.05,
                     family_size: int | None = None) -> list[Verdict]:
    """Corrected verdicts of all primary comparisons of a protocol.

    ``comparisons`` maps (target, candidate) → {baseline: diff (draws, seeds)}; every
    (target, candidate, baseline) is one test of the Holm family, of ``family_size`` tests
    in all when a round registered more than have run (``holm``).
    """
    keys = [(t, c, b) for (t, c), by in comparisons.items() for b in by]
    raw = [difference(comparisons[(t, c)][b], method) for t, c, b in keys]
    rejected, levels = holm([d.p_value for d in raw], alpha, family_size)
    out = []
    for (t, c), by in comparisons.items():
        diffs, rej = {}, {}
        for b in by:
            i = keys.index((t, c, b))
            diffs[b] = difference(comparisons[(t, c)][b], method, levels[i])
            rej[b] = rejected[i]
        if all(rej[b] and diffs[b].mean > 0 for b in by):
            verdict = "win"
        elif any(rej[b] and diffs[b].mean < 0 for b in by):
            verdict = "loss"
        else:
            verdict = "no win"
        out.append(Verdict(t, c, diffs, rej, verdict))
    return out
