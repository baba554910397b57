"""Evolution strategies: progress on a quadratic, failed members, exact replay, fitness shaping."""

import numpy as np
import pytest

from mirrorpo.discovery.strategies import (
    STRATEGIES,
    OpenAIES,
    OpenAIESSettings,
    centered_ranks,
    nonfinite_to_worst,
    openai_es_noise,
    replay,
)

DIM = 8
TARGET = np.linspace(-1.0, 1.0, DIM)
POPSIZE = 12


def sphere(candidates: np.ndarray) -> np.ndarray:
    """−‖x − target‖² per row: (P, dim) → (P,); maximum 0 at TARGET."""
    return -((candidates - TARGET) ** 2).sum(axis=1)


def make(name: str, seed: int = 0, popsize: int = POPSIZE):
    cls = STRATEGIES[name]
    settings = cls.Settings(popsize=popsize, seed=seed)
    return cls(settings, np.zeros(DIM)), settings


def corrupt(fitness: np.ndarray, generation: int) -> np.ndarray:
    """Fail members: the two worst become +inf and NaN, one more −inf; generation 3 all NaN."""
    f = fitness.copy()
    if generation == 3:
        return np.full_like(f, np.nan)
    worst = np.argsort(f)
    f[worst[0]], f[worst[1]] = np.inf, np.nan
    f[worst[-1 - generation % 3]] = -np.inf
    return f


def run(strategy, generations: int, failures: bool = False) -> list[np.ndarray]:
    """Ask/tell ``generations`` times on ``sphere``; returns the fitness told, each (P,)."""
    history = []
    for g in range(generations):
        fitness = sphere(strategy.ask())
        if failures:
            fitness = corrupt(fitness, g)
        strategy.tell(fitness)
        history.append(fitness)
    return history


@pytest.mark.parametrize("name", STRATEGIES)
def test_mean_improves_on_a_quadratic(name):
    strategy, _ = make(name)
    start = -sphere(strategy.mean[None])[0]
    run(strategy, 30)
    assert -sphere(strategy.mean[None])[0] < 0.1 * start
    assert strategy.generation == 30


@pytest.mark.parametrize("name", STRATEGIES)
def test_nonfinite_fitness_counts_as_worst(name):
    # +inf on the worst members would pull the mean away if it counted as best
    strategy, _ = make(name)
    start = -sphere(strategy.mean[None])[0]
    run(strategy, 30, failures=True)
    assert np.isfinite(strategy.mean).all()
    assert -sphere(strategy.mean[None])[0] < 0.1 * start


@pytest.mark.parametrize("name", STRATEGIES)
def test_replay_reproduces_the_exact_state(name):
    strategy, settings = make(name, seed=7)
    history = run(strategy, 7, failures=True)
    np.random.seed(123)  # numpy's global RNG must not matter
    rebuilt = replay(settings, np.zeros(DIM), history)
    assert rebuilt.generation == strategy.generation == 7
    np.testing.assert_array_equal(rebuilt.mean, strategy.mean)
    np.testing.assert_array_equal(rebuilt.ask(), strategy.ask())


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategies_share_no_random_state(name):
    a, _ = make(name, seed=1)
    b, _ = make(name, seed=1)
    c, _ = make(name, seed=2)
    for _ in range(3):  # interleaved: a global RNG would give b other numbers than a
        xa, xb, xc = a.ask(), b.ask(), c.ask()
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(a.ask(), xa)  # ask is stable until tell
        assert not np.array_equal(xa, xc)
        assert xa.shape == (POPSIZE, DIM)
        for s, x in ((a, xa), (b, xb), (c, xc)):
            np.random.rand(5)
            s.tell(sphere(x))


@pytest.mark.parametrize("name", STRATEGIES)
def test_fitness_of_the_wrong_shape_is_refused(name):
    strategy, _ = make(name)
    with pytest.raises(ValueError, match="shape"):
        strategy.tell(np.zeros(POPSIZE + 1))


def test_centered_ranks_by_hand():
    np.testing.assert_array_equal(centered_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])
    # ties share their average rank: 1.0 holds ranks 1 and 2 → 1.5
    np.testing.assert_array_equal(centered_ranks(np.array([1.0, 1.0, 2.0, 0.0])),
                                  [0.0, 0.0, 0.5, -0.5])
    # NaN, +inf and −inf all tie below the finite values (ranks 0, 1, 2 → 1)
    np.testing.assert_array_equal(
        centered_ranks(np.array([np.nan, 1.0, np.inf, -np.inf, 2.0])),
        [-0.25, 0.25, -0.25, -0.25, 0.5])
    np.testing.assert_array_equal(centered_ranks(np.array([5.0])), [0.0])
    shaped = centered_ranks(np.random.default_rng(0).normal(size=9))
    assert shaped.min() == -0.5 and shaped.max() == 0.5 and abs(shaped.sum()) < 1e-12


def test_nonfinite_to_worst_by_hand():
    # one range (3 − 1 = 2) plus 1 below the lowest finite value
    np.testing.assert_array_equal(nonfinite_to_worst(np.array([1.0, np.nan, 3.0, np.inf])),
                                  [1.0, -2.0, 3.0, -2.0])
    np.testing.assert_array_equal(nonfinite_to_worst(np.array([np.nan, -np.inf])), [0.0, 0.0])


def test_openai_es_candidates_are_antithetic():
    settings = OpenAIESSettings(sigma=0.3, popsize=10, seed=4)
    strategy = OpenAIES(settings, np.arange(5.0))
    strategy.tell(np.arange(10.0))  # move off x0 first
    x, mean, half = strategy.ask(), strategy.mean, 5
    eps = openai_es_noise(settings, strategy.generation, 5)  # (P/2, dim)
    np.testing.assert_allclose(x[:half] - mean, settings.sigma * eps, atol=1e-12)
    np.testing.assert_allclose(x[half:] - mean, -settings.sigma * eps, atol=1e-12)


def test_openai_es_first_step_follows_a_linear_fitness():
    # Adam's first step is lr·g/(|g| + ε) per coordinate: lr·sign(w) for fitness w·x
    w = np.array([1.0, -2.0, 3.0])
    settings = OpenAIESSettings(sigma=0.1, learning_rate=0.05, popsize=400, seed=0)
    strategy = OpenAIES(settings, np.zeros(3))
    strategy.tell(strategy.ask() @ w)
    np.testing.assert_allclose(strategy.mean, 0.05 * np.sign(w), rtol=1e-6)


def test_openai_es_needs_an_even_population():
    with pytest.raises(ValueError, match="even"):
        OpenAIESSettings(popsize=7)
