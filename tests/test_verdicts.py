"""Paired verdicts and Holm–Bonferroni on hand-checkable arrays."""

import numpy as np
import pytest
from scipy import stats as sps

from mirrorpo.verdicts import (
    draw_t,
    holm,
    paired_differences,
    primary_verdicts,
    stratified_bootstrap,
)


def test_failed_members_count_as_zero_and_shapes_must_match():
    a = np.array([[1.0, -np.inf], [np.nan, 4.0]])
    b = np.array([[0.5, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(paired_differences(a, b), [[0.5, -1.0], [-1.0, 3.0]])
    with pytest.raises(ValueError, match="draws, seeds"):
        paired_differences(a, b[:, :1])


def test_draw_t_is_a_t_interval_over_per_draw_means():
    diff = np.array([[0.0, 2.0], [2.0, 2.0], [3.0, 3.0]])  # per-draw means 1, 2, 3
    d = draw_t(diff)
    se = 1.0 / np.sqrt(3)
    q = sps.t.ppf(0.975, 2)
    assert d.mean == pytest.approx(2.0)
    assert d.ci == pytest.approx((2 - q * se, 2 + q * se))
    assert d.p_value == pytest.approx(sps.ttest_1samp([1.0, 2.0, 3.0], 0.0).pvalue)
    assert (d.draws, d.seeds, d.method) == (3, 2, "draw-t")


def test_bootstrap_treats_draws_as_fixed_where_t_does_not():
    diff = np.array([[0.0] * 10, [10.0] * 10])  # draws disagree, seeds within a draw agree
    boot = stratified_bootstrap(diff)
    assert boot.ci == pytest.approx((5.0, 5.0)) and boot.p_value == 0.0
    t = draw_t(diff)
    assert t.ci[0] < 0 < t.ci[1]  # two draws that disagree say little about a new draw


def test_holm_steps_down_and_stops():
    rejected, levels = holm([0.01, 0.04, 0.03], alpha=0.05)
    assert rejected == [True, False, False]  # 0.03 > 0.05/2 stops the procedure
    assert levels == pytest.approx([1 - 0.05 / 3, 1 - 0.05, 1 - 0.05 / 2])
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.1, size=6).tolist()
        assert holm(p)[0] == multipletests(p, 0.05, method="holm")[0].tolist()


def test_a_registered_family_size_counts_missing_comparisons_as_not_rejected():
    p = [0.001, 0.004, 0.02]
    rejected, levels = holm(p, alpha=0.05, family_size=10)
    padded = holm(p + [1.0] * 7, alpha=0.05)
    assert (rejected, levels) == (padded[0][:3], padded[1][:3])
    assert rejected == [True, True, False]  # 0.004 < 0.05/9, 0.02 > 0.05/8
    assert holm(p, alpha=0.05)[0] == [True, True, True]  # m = 3 would reject all three
    with pytest.raises(ValueError, match="family size 2 is smaller than the 3"):
        holm(p, family_size=2)


def test_corrected_t_interval_excludes_zero_exactly_when_holm_rejects():
    rng = np.random.default_rng(1)
    comparisons = {("t1", "c"): {f"b{i}": rng.normal(mu, 1.0, (4, 10))
                                 for i, mu in enumerate([0.05, 0.4, 0.8, 1.5])}}
    (v,) = primary_verdicts(comparisons)
    excludes = {b: d.ci[0] > 0 or d.ci[1] < 0 for b, d in v.differences.items()}
    assert all(excludes[b] for b in v.rejected if v.rejected[b])
    first = min(v.differences, key=lambda b: v.differences[b].p_value)
    assert v.rejected[first] == excludes[first]  # duality at the first step
    assert v.rejected["b3"] and not v.rejected["b0"]


def test_win_needs_every_baseline():
    rng = np.random.default_rng(2)
    clear = rng.normal(5.0, 0.5, (5, 10))
    unclear = rng.normal(0.0, 3.0, (5, 10))
    verdicts = primary_verdicts({("hopper mixed", "best"): {"dpo": clear, "hinge": clear},
                                 ("walker mixed", "best"): {"dpo": clear, "ipo": unclear},
                                 ("cheetah mixed", "best"): {"dpo": -clear}})
    assert [v.verdict for v in verdicts] == ["win", "no win", "loss"]
    # five tests in the family: the smallest p is tested at 0.05 / 5
    levels = [d.level for v in verdicts for d in v.differences.values()]
    assert max(levels) == pytest.approx(1 - 0.05 / 5) and min(levels) == pytest.approx(0.95)
