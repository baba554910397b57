"""Evolution strategies for the loss search: OpenAI-ES and CMA-ES behind one ask/tell interface.

A strategy proposes a population with ``ask() -> (P, dim)`` and learns from its fitness with
``tell(fitness (P,))``; both **maximise** fitness. A non-finite fitness (NaN, ±inf) counts as
worse than every finite one (``nonfinite_to_worst``), so a failed candidate never crashes a
search nor moves the mean towards itself.

Resume without pickles: a strategy is a deterministic function of its settings, its start
point x0 and the fitness arrays told so far (its random numbers come from its own seeded
generator, never from a global one). ``replay`` rebuilds it from those three and reproduces the
exact state, down to bit-identical candidate matrices.

* ``OpenAIES``: Salimans et al., "Evolution Strategies as a Scalable Alternative to
  Reinforcement Learning" (arXiv 1703.03864): antithetic Gaussian perturbations, centred-rank
  fitness shaping and Adam on the mean; numpy only, state explicit (``OpenAIESState``).
* ``CMAES``: Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv 1604.00772), through the
  ``cma`` package (``pip install "cma>=4,<5"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8


class Strategy(Protocol):
    """The interface the search run drives; ``STRATEGIES`` lists the implementations."""

    def ask(self) -> np.ndarray:
        """Candidates of the current generation, (P, dim); the same matrix until ``tell``."""
        ...

    def tell(self, fitness: np.ndarray) -> None:
        """Update from the fitness (P,) of the candidates of ``ask`` (higher is better)."""
        ...

    @property
    def mean(self) -> np.ndarray:
        """The current centre of the search distribution, (dim,)."""
        ...

    @property
    def generation(self) -> int:
        """How many generations have been told."""
        ...


# ----------------------------------------------------------------------------- fitness shaping


def nonfinite_to_worst(fitness: np.ndarray) -> np.ndarray:
    """A copy of ``fitness`` (P,) in which NaN and ±inf sit below every finite value.

    They all get lo − (1 + hi − lo), one range below the finite values [lo, hi]; when no value
    is finite, every member gets 0 (all tied).
    """
    f = np.asarray(fitness, dtype=np.float64)
    finite = np.isfinite(f)
    if finite.all():
        return f.copy()
    if not finite.any():
        return np.zeros_like(f)
    lo, hi = f[finite].min(), f[finite].max()
    worst = lo - (1.0 + (hi - lo))
    if not np.isfinite(worst):  # finite values near the float limits
        worst = np.nextafter(lo, -np.inf)
    return np.where(finite, f, worst)


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Centred ranks (P,) in [−0.5, 0.5]: rank / (P − 1) − ½, so the best member gets +½.

    Ranks start at 0 for the worst member; tied values share their average rank, so equal
    fitness gets an equal weight whatever the members' order. Non-finite values rank below every
    finite one. The fitness shaping of Salimans et al. 2017 (arXiv 1703.03864).
    """
    f = nonfinite_to_worst(fitness)
    if f.size < 2:
        return np.zeros_like(f)
    _, inverse, counts = np.unique(f, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # lowest rank of each distinct value
    ranks = first + (counts - 1) / 2.0  # (distinct,)
    return ranks[inverse.reshape(-1)] / (f.size - 1) - 0.5


def _checked_fitness(fitness: np.ndarray, popsize: int) -> np.ndarray:
    f = np.asarray(fitness, dtype=np.float64)
    if f.shape != (popsize,):
        raise ValueError(f"fitness must have shape ({popsize},), got {f.shape}")
    return f


# ----------------------------------------------------------------------------- OpenAI-ES


@dataclass(frozen=True)
class OpenAIESSettings:
    """Settings of ``OpenAIES``."""

    sigma: float = 0.1
    """Standard deviation σ of the Gaussian perturbations (> 0)."""
    learning_rate: float = 0.05
    """Adam step size on the mean (> 0)."""
    popsize: int = 16
    """Candidates per generation P (even: P/2 antithetic pairs)."""
    seed: int = 0
    """Seed of the perturbations (≥ 0); generation t draws from default_rng([seed, t])."""

    def __post_init__(self):
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.popsize < 2 or self.popsize % 2:
            raise ValueError(f"popsize must be even and ≥ 2 (antithetic pairs), "
                             f"got {self.popsize}")
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}")


class OpenAIESState(NamedTuple):
    """Everything that changes between generations of OpenAI-ES."""

    mean: np.ndarray  # (dim,)
    adam_m: np.ndarray  # (dim,) first-moment estimate
    adam_v: np.ndarray  # (dim,) second-moment estimate
    generation: int


def openai_es_init(x0: np.ndarray) -> OpenAIESState:
    x0 = np.array(x0, dtype=np.float64)  # (dim,)
    if x0.ndim != 1 or not np.isfinite(x0).all():
        raise ValueError(f"x0 must be a finite vector, got shape {x0.shape}")
    return OpenAIESState(x0, np.zeros_like(x0), np.zeros_like(x0), 0)


def openai_es_noise(settings: OpenAIESSettings, generation: int, dim: int) -> np.ndarray:
    """The perturbations ε_i ~ N(0, I) of one generation, (P/2, dim)."""
    rng = np.random.default_rng([settings.seed, generation])
    return rng.standard_normal((settings.popsize // 2, dim))


def openai_es_ask(state: OpenAIESState, settings: OpenAIESSettings) -> np.ndarray:
    """Candidates (P, dim): row i is mean + σ ε_i and row i + P/2 is mean − σ ε_i."""
    eps = openai_es_noise(settings, state.generation, state.mean.size)  # (P/2, dim)
    return np.concatenate([state.mean + settings.sigma * eps, state.mean - settings.sigma * eps])


def adam_ascent(x: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int,
                learning_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step (Kingma & Ba 2015, arXiv 1412.6980, Algorithm 1) *up* the gradient.

    m ← β1 m + (1 − β1) g; v ← β2 v + (1 − β2) g²; x ← x + lr · m̂ / (√v̂ + ε) with the
    bias corrections m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t); t counts steps from 1.
    Returns (x, m, v).
    """
    m = ADAM_BETA1 * m + (1 - ADAM_BETA1) * grad
    v = ADAM_BETA2 * v + (1 - ADAM_BETA2) * grad**2
    m_hat = m / (1 - ADAM_BETA1**t)
    v_hat = v / (1 - ADAM_BETA2**t)
    return x + learning_rate * m_hat / (np.sqrt(v_hat) + ADAM_EPS), m, v


def openai_es_tell(state: OpenAIESState, settings: OpenAIESSettings,
                   fitness: np.ndarray) -> OpenAIESState:
    """The next state: g = (1 / (P σ)) Σ_i shaped_i ε_i over all P members, then Adam ascent.

    shaped = ``centered_ranks(fitness)``; member i + P/2 carries −ε_i, so the sum pairs up as
    Σ_{i<P/2} (shaped_i − shaped_{i+P/2}) ε_i.
    """
    shaped = centered_ranks(_checked_fitness(fitness, settings.popsize))  # (P,)
    half = settings.popsize // 2
    eps = openai_es_noise(settings, state.generation, state.mean.size)  # (P/2, dim)
    grad = eps.T @ (shaped[:half] - shaped[half:]) / (settings.popsize * settings.sigma)
    t = state.generation + 1
    mean, m, v = adam_ascent(state.mean, grad, state.adam_m, state.adam_v, t,
                             settings.learning_rate)
    return OpenAIESState(mean, m, v, t)


class OpenAIES:
    """OpenAI-ES (Salimans et al. 2017, arXiv 1703.03864) with antithetic sampling,
    centred-rank fitness shaping and Adam; a thin object over the pure ``openai_es_*``
    functions. ``ask`` is a pure function of the state: calling it twice gives the same matrix.
    """

    Settings = OpenAIESSettings

    def __init__(self, settings: OpenAIESSettings, x0: np.ndarray):
        self.settings = settings
        self.state = openai_es_init(x0)

    def ask(self) -> np.ndarray:
        return openai_es_ask(self.state, self.settings)  # (P, dim)

    def tell(self, fitness: np.ndarray) -> None:
        self.state = openai_es_tell(self.state, self.settings, fitness)

    @property
    def mean(self) -> np.ndarray:
        return self.state.mean.copy()

    @property
    def generation(self) -> int:
        return self.state.generation


# ----------------------------------------------------------------------------- CMA-ES


@dataclass(frozen=True)
class CMAESSettings:
    """Settings of ``CMAES``; every other ``cma`` option keeps its default."""

    sigma0: float = 0.2
    """Initial step size σ0 (> 0), the same in every coordinate."""
    popsize: int = 16
    """Candidates per generation λ (≥ 2)."""
    seed: int = 0
    """Seed of the strategy's own generator of N(0, 1) samples (≥ 0)."""

    def __post_init__(self):
        if not self.sigma0 > 0:
            raise ValueError(f"sigma0 must be > 0, got {self.sigma0}")
        if self.popsize < 2:
            raise ValueError(f"popsize must be ≥ 2, got {self.popsize}")
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}")


def cma_options(settings: CMAESSettings) -> dict:
    """``cma`` options: our own seeded sampler, silent, no files written.

    cma's ``seed`` option would seed numpy's *global* RNG, which anything else in the process
    can advance, so two strategies (or a strategy and its replay) would not be independent.
    Instead the seed drives a private ``np.random.Generator`` handed over as ``randn``, and
    ``seed`` is NaN, which makes cma leave the global RNG alone.
    """
    rng = np.random.default_rng(settings.seed)

    def randn(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape)

    return {"popsize": settings.popsize, "seed": np.nan, "randn": randn, "verbose": -9,
            "verb_disp": 0, "verb_log": 0, "verb_plot": 0}


class CMAES:
    """CMA-ES (Hansen 2016, arXiv 1604.00772) via ``cma.CMAEvolutionStrategy``, maximising:
    cma minimises −fitness. ``ask`` samples once per generation and returns that matrix
    until ``tell``.
    """

    Settings = CMAESSettings

    def __init__(self, settings: CMAESSettings, x0: np.ndarray):
        import cma  # imported here: ~2 s, and only this strategy needs it

        x0 = np.array(x0, dtype=np.float64)  # (dim,)
        if x0.ndim != 1 or not np.isfinite(x0).all():
            raise ValueError(f"x0 must be a finite vector, got shape {x0.shape}")
        self.settings = settings
        self._es = cma.CMAEvolutionStrategy(x0, settings.sigma0, cma_options(settings))
        self._asked: list[np.ndarray] | None = None  # cma's own solution objects
        self._generation = 0

    def ask(self) -> np.ndarray:
        if self._asked is None:
            self._asked = self._es.ask()
        return np.array(self._asked, dtype=np.float64)  # (P, dim)

    def tell(self, fitness: np.ndarray) -> None:
        f = _checked_fitness(fitness, self.settings.popsize)
        self.ask()
        self._es.tell(self._asked, list(-nonfinite_to_worst(f)))
        self._asked = None
        self._generation += 1

    @property
    def mean(self) -> np.ndarray:
        return np.array(self._es.mean, dtype=np.float64)

    @property
    def generation(self) -> int:
        return self._generation


# ----------------------------------------------------------------------------- registry

STRATEGIES: dict[str, type[OpenAIES] | type[CMAES]] = {"openai-es": OpenAIES, "cma-es": CMAES}
"""Strategy name → class; each class has a ``Settings`` dataclass and takes (settings, x0)."""


def strategy_class(settings: OpenAIESSettings | CMAESSettings) -> type[OpenAIES] | type[CMAES]:
    """The registered strategy whose ``Settings`` these are."""
    for cls in STRATEGIES.values():
        if type(settings) is cls.Settings:
            return cls
    raise TypeError(f"no registered strategy takes settings of type {type(settings).__name__}")


def replay(settings: OpenAIESSettings | CMAESSettings, x0: np.ndarray,
           history: list[np.ndarray]) -> OpenAIES | CMAES:
    """Rebuild a strategy from scratch and tell it the recorded fitness arrays (each (P,)), in
    order; the result is in exactly the state of the strategy that was told them."""
    strategy = strategy_class(settings)(settings, x0)
    for fitness in history:
        strategy.tell(fitness)
    return strategy
