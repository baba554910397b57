"""Normalised scores, IQM and bootstrap CIs on hand-checkable arrays."""

import numpy as np
import pytest

from mirrorpo.stats import bootstrap_ci, iqm, normalized_score


def test_normalized_score_endpoints_and_linearity():
    assert normalized_score(10.0, 10.0, 110.0) == pytest.approx(0.0)
    assert normalized_score(110.0, 10.0, 110.0) == pytest.approx(100.0)
    assert normalized_score(60.0, 10.0, 110.0) == pytest.approx(50.0)
    assert normalized_score(-90.0, 10.0, 110.0) == pytest.approx(-100.0)
    np.testing.assert_allclose(normalized_score(np.array([10.0, 35.0]), 10.0, 110.0), [0, 25])


def test_normalized_score_rejects_degenerate_normaliser():
    with pytest.raises(ValueError):
        normalized_score(1.0, 5.0, 5.0)


def test_iqm_drops_quartiles():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])
    assert iqm(x) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))


def test_bootstrap_ci_brackets_mean_and_is_per_row():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, 50), rng.normal(10, 1, 50)])
    lo, hi = bootstrap_ci(x, rng=np.random.default_rng(1))
    assert lo.shape == hi.shape == (2,)
    assert (lo < x.mean(1)).all() and (x.mean(1) < hi).all()
    assert 9 < lo[1] < hi[1] < 11
    # constant data: zero-width interval
    lo, hi = bootstrap_ci(np.full((1, 5), 3.0))
    assert lo[0] == hi[0] == 3.0


def test_bootstrap_ci_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small = rng.normal(0, 1, 20)
    large = rng.normal(0, 1, 2000)
    w_small = np.subtract(*bootstrap_ci(small)[::-1])
    w_large = np.subtract(*bootstrap_ci(large)[::-1])
    assert w_large < w_small / 5
