"""AlpacaEval-style metrics of a policy against the reference, judged by the reward.

Per held-out prompt, one response of the policy and one of the reference are judged:

- win rate: P(r_policy > r_ref), ties counting one half;
- length-controlled win rate (after Dubois et al., 2024, AlpacaEval LC): a logistic model
  P(win) = σ(θ₀ + θ₁·tanh(Δ/s)) of the win on the length difference Δ = |y| − |y_ref| (s its
  standard deviation) is fitted, and σ(θ₀), the win rate at equal length, is reported;
- mean reward of the policy's responses;
- KL(π‖π_ref) estimated on the policy's own samples: mean of log π(y|x) − log π_ref(y|x).
"""

from __future__ import annotations

import numpy as np


def win_rate(policy: np.ndarray, reference: np.ndarray) -> float:
    p, r = np.asarray(policy, float), np.asarray(reference, float)
    return float(np.mean((p > r) + 0.5 * (p == r)))


def _logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """θ of P(y=1) = σ(θ₀ + θ₁x) by Newton's method with a small ridge (y may be ½ for ties).

    Hand-written: two parameters, and it must accept fractional targets (ties), which
    scikit-learn's LogisticRegression does not.
    """
    X = np.stack([np.ones_like(x), x], 1)
    theta = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-X @ theta))
        grad = X.T @ (p - y) + l2 * theta
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta


def length_controlled_win_rate(policy: np.ndarray, reference: np.ndarray,
                               policy_len: np.ndarray, reference_len: np.ndarray) -> float:
    y = (np.asarray(policy) > np.asarray(reference)) + 0.5 * (np.asarray(policy) ==
                                                             np.asarray(reference))
    d = np.asarray(policy_len, float) - np.asarray(reference_len, float)
    s = d.std()
    x = np.tanh(d / s) if s > 0 else np.zeros_like(d)
    theta = _logistic_fit(x, y.astype(float))
    return float(1 / (1 + np.exp(-theta[0])))


def kl_estimate(policy_logps: np.ndarray, reference_logps: np.ndarray) -> float:
    """Monte-Carlo KL(π‖π_ref) from samples y ~ π: mean of log π(y|x) − log π_ref(y|x)."""
    return float(np.mean(np.asarray(policy_logps) - np.asarray(reference_logps)))


def paired_win_rate(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float]:
    """Head-to-head win rate of policy A against policy B, paired per (seed, prompt): a, b
    (S, P) judged rewards of A's and B's responses to the same P held-out prompts, sampled with
    the same seeds. Returns (mean, low, high): the mean of 1[a > b] + ½·1[a = b], with a
    percentile bootstrap that resamples seeds and prompts independently (a two-way crossed
    bootstrap), so the interval speaks about new training seeds and new prompts alike."""
    return paired_win_test(a, b, n_boot=n_boot, level=level, seed=seed)[:3]


def paired_win_p_value(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000,
                       seed: int = 0) -> float:
    """Two-sided bootstrap p-value of "A's win rate against B is ½" (:func:`paired_win_test`)."""
    return paired_win_test(a, b, n_boot=n_boot, seed=seed)[3]


def paired_win_test(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                    seed: int = 0) -> tuple[float, float, float, float]:
    """(mean, low, high, p) from one set of bootstrap replicates: :func:`paired_win_rate`'s
    interval and the two-sided p-value of a win rate of ½, p = min(1, 2·min(P*(w ≤ ½),
    P*(w ≥ ½))), the smallest α whose percentile interval at level 1 − α leaves ½ out, so a
    Holm test on it agrees with the corrected interval (up to the bootstrap's resolution,
    1/``n_boot``)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired_win_rate: (seeds, prompts) arrays of one shape, got "
                         f"{a.shape} and {b.shape}")
    w = (a > b) + 0.5 * (a == b)
    rng = np.random.default_rng(seed)
    s, p = w.shape
    reps = np.array([w[rng.integers(0, s, s)][:, rng.integers(0, p, p)].mean()
                     for _ in range(n_boot)])
    tail = (1 - level) / 2
    p_value = min(1.0, 2 * min(np.mean(reps <= 0.5), np.mean(reps >= 0.5)))
    return (float(w.mean()), float(np.quantile(reps, tail)), float(np.quantile(reps, 1 - tail)),
            float(p_value))
