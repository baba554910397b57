"""The simulated teacher's statistics (B-Pref knobs)."""

import numpy as np
import pytest

from mirrorpo.data.teacher import EQUAL, SKIPPED, TeacherConfig, label_pairs, myopic_returns


def random_pairs(n, h=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 1.0, (n, h)), rng.normal(1.0, 1.0, (n, h))


def rational(r0, r1):
    return (r1.sum(-1) > r0.sum(-1)).astype(int)


@pytest.mark.parametrize("eps", [0.1, 0.2, 0.4])
def test_flip_rate_matches_mistake_rate(eps):
    r0, r1 = random_pairs(200_000)
    labels = label_pairs(r0, r1, TeacherConfig(mistake_rate=eps), np.random.default_rng(1))
    flip = np.mean(labels != rational(r0, r1))
    # binomial sd at n=2e5 is ~0.001; 5 sd tolerance
    assert abs(flip - eps) < 0.005


def test_zero_temperature_limit_is_rational():
    r0, r1 = random_pairs(20_000)
    cold = label_pairs(r0, r1, TeacherConfig(temperature=1e-9), np.random.default_rng(2))
    np.testing.assert_array_equal(cold, rational(r0, r1))
    hot = label_pairs(r0, r1, TeacherConfig(temperature=10.0), np.random.default_rng(2))
    assert 0.4 < np.mean(hot == rational(r0, r1)) < 0.6  # nearly a coin flip


def test_bradley_terry_probability():
    """With a fixed return gap d, P(prefer better) = σ(d / (T·scale))."""
    n = 100_000
    r0 = np.zeros((n, 1))
    r1 = np.ones((n, 1))
    labels = label_pairs(r0, r1, TeacherConfig(temperature=1.0), np.random.default_rng(3),
                         scale=1.0)
    assert abs(labels.mean() - 1 / (1 + np.exp(-1))) < 0.006


def test_myopic_discount_weights_recent_steps():
    r = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(myopic_returns(r, 0.5), [0.25, 1.0])
    np.testing.assert_allclose(myopic_returns(r, 1.0), [1.0, 1.0])
    # early reward wins undiscounted, late reward wins for a myopic teacher
    r0 = np.array([[3.0, 0.0, 0.0]])
    r1 = np.array([[0.0, 0.0, 2.0]])
    assert label_pairs(r0, r1, TeacherConfig(), np.random.default_rng(0), scale=1)[0] == 0
    myopic = TeacherConfig(myopic_discount=0.5)
    assert label_pairs(r0, r1, myopic, np.random.default_rng(0), scale=1)[0] == 1


def test_equal_and_skip_thresholds():
    r0 = np.array([[1.0], [0.1], [5.0]])
    r1 = np.array([[1.05], [0.2], [9.0]])
    cfg = TeacherConfig(equal_threshold=0.1, skip_threshold=0.5)
    labels = label_pairs(r0, r1, cfg, np.random.default_rng(0), scale=1.0)
    assert labels.tolist() == [EQUAL, SKIPPED, 1]


@pytest.mark.parametrize("kwargs", [
    {"temperature": -1}, {"mistake_rate": 0.7}, {"myopic_discount": 0.0},
    {"equal_threshold": -0.1},
])
def test_invalid_teacher_config(kwargs):
    with pytest.raises(ValueError):
        TeacherConfig(**kwargs)
