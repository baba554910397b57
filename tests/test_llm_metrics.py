"""Win rates, length control and the KL estimate."""

import numpy as np
import pytest

from mirrorpo.llm.metrics import kl_estimate, length_controlled_win_rate, win_rate


def test_win_rate_counts_ties_half():
    assert win_rate([1, 0, 2, 3], [0, 0, 3, 1]) == pytest.approx((1 + 0.5 + 0 + 1) / 4)


def test_length_control_removes_a_pure_length_effect():
    rng = np.random.default_rng(0)
    n = 4000
    d = rng.normal(5, 10, n)  # the policy is usually longer, and longer answers tend to win
    pol = (rng.random(n) < 1 / (1 + np.exp(-0.2 * d))).astype(float)
    ref = np.full(n, 0.5)
    lens, ref_lens = 20 + d, np.full(n, 20.0)
    assert win_rate(pol, ref) > 0.6
    assert length_controlled_win_rate(pol, ref, lens, ref_lens) == pytest.approx(0.5, abs=0.05)
    # a real quality edge with no length effect survives length control
    better = (rng.random(n) < 0.8).astype(float)
    lc = length_controlled_win_rate(better, ref, lens, ref_lens)
    assert lc == pytest.approx(0.8, abs=0.03)


def test_kl_estimate_of_gaussians():
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 1.0, 200_000)  # π = N(1, 1), π_ref = N(0, 1): KL = 1/2
    logp = -0.5 * (x - 1) ** 2
    logq = -0.5 * x ** 2
    assert kl_estimate(logp, logq) == pytest.approx(0.5, abs=0.01)


def _length_rule():
    """scripts/llm/length_rule.py, the LLM protocol's registered training-length rule."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "scripts/llm/length_rule.py"
    spec = importlib.util.spec_from_file_location("length_rule", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_length_rule_takes_the_first_step_whose_win_rate_clears_one_half():
    rule = _length_rule()
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, (2, 168))
    def curve(shift):  # per seed: step → per-prompt rewards; step 0 is the reference
        return {s: {0: ref[s], 50: ref[s] + rng.normal(0, 1, 168) * 0.01 * (-1) ** s,
                    100: ref[s] + shift, 200: ref[s] + shift, 400: ref[s] + shift}
                for s in range(2)}
    length, figures = rule.chosen_length(curve(1.0))
    assert length == 100 and figures[100][1] > 0.5 >= figures[50][1]
    # nothing moves: the longest budget, which the report flags
    length, figures = rule.chosen_length(curve(0.0))
    assert length == 400 and all(low <= 0.5 for _, low, _ in figures.values())
