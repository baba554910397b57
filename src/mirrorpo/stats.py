"""Small pure statistics: normalised scores, IQM and bootstrap confidence intervals.

Conventions follow rliable (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical
Precipice"): scores are arrays with runs on the last axis; aggregates are functions passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as sps


def normalized_score(returns: np.ndarray | float, random_return: float,
                     expert_return: float) -> np.ndarray:
    """100 · (R − R_random) / (R_expert − R_random)."""
    if expert_return == random_return:
        raise ValueError("expert and random returns are equal: score undefined")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - random_return) / (
        expert_return - random_return
    )


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: mean of the middle 50% (25% trimmed each side)."""
    return sps.trim_mean(x, 0.25, axis=axis)


def bootstrap_ci(
    x: np.ndarray,
    statistic: Callable[..., np.ndarray] = np.mean,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of ``statistic`` over the last axis of ``x`` (..., n).

    Resamples the last axis with replacement ``n_boot`` times; leading axes are independent
    (one CI per row). Returns (low, high), each of shape x.shape[:-1].
    """
    x = np.asarray(x, dtype=np.float64)
    rng = rng or np.random.default_rng(0)
    n = x.shape[-1]
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = statistic(x[..., idx], axis=-1)  # (..., n_boot)
    alpha = (1.0 - level) / 2.0
    low = np.quantile(boots, alpha, axis=-1)
    high = np.quantile(boots, 1.0 - alpha, axis=-1)
    return low, high
