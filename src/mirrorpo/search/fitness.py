"""ES fitness: the mean normalised return of policies trained from the reference with each
candidate loss (docs/protocol.md; Alfano et al. 2025, §4).

For a generation's P candidate vectors, every (candidate, fitness seed) pair becomes one member
of a population-batched training run per dataset; members are scored on the episodes of their
seed and a candidate's fitness is the mean score over its seeds and the datasets. A member
whose loss or gradient goes non-finite scores −inf (the strategies rank it worst).

The members of a dataset may be split into shards, each trained as its own population (one per
Ray worker, see mirrorpo.search.ray_backend). A member's result does not depend on its shard:
minibatches come from its own seeded generator, its parameters and Adam state are its own, and
its episodes use common random numbers (mirrorpo.evaluation). Sharding therefore changes where
the work runs, not the fitness.

Fitness seeds are disjoint from the benchmark's validation (1000+), test (0+) and evaluation
seeds, so meta-test scores on fresh seeds are honest. By default they are fixed for the whole
search (common random numbers across generations); with ``reseed`` generation g draws seeds
2000 + gK .. 2000 + gK + K − 1, so candidates within a generation still share seeds but the
search cannot fit one training trajectory and one set of episodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.losses.family import get_family
from mirrorpo.policies import PolicyStack
from mirrorpo.train.population import TrainConfig, train_population

if TYPE_CHECKING:  # evaluation imports the simulators; annotations only need the name
    from mirrorpo.evaluation import Scorer

FITNESS_SEED_BASE = 2000
"""Fitness member k trains with seed 2000 + k ..."""
FITNESS_EVAL_SEED = 700_000
"""... and is scored on the episodes of reset seeds 700000 + (2000 + k) + j."""


@dataclass(frozen=True)
class FitnessConfig:
    """What a search's fitness trains on and how (nested in SearchConfig, saved with it)."""

    data: tuple[str, ...] = setting(help="Dataset directories, comma-separated (fitness "
                                         "averages over them; one environment).")
    fitness_seeds: int = setting(1, ge=1, help="Training seeds per candidate (fitness = mean "
                                               "score over them).")
    reseed: bool = setting(False, help="Draw fresh fitness seeds every generation (shared "
                                       "within it), so the search cannot fit one training "
                                       "trajectory and set of episodes.")
    episodes: int = setting(10, ge=2, help="Evaluation episodes per fitness member.")
    train: TrainConfig = setting(default_factory=TrainConfig, cli=False,
                                 help="Optimiser settings of every fitness member.")

    def __post_init__(self):
        check(self)
        if not self.data:
            raise ConfigError("FitnessConfig.data: give at least one dataset directory")
        # resolved, so the same dataset named by a relative or an absolute path is one config
        object.__setattr__(self, "data", tuple(os.path.abspath(d) for d in self.data))

    def to_json(self) -> dict:
        raw = {"data": list(self.data), "fitness_seeds": self.fitness_seeds,
               "episodes": self.episodes, "train": self.train.to_json()}
        if self.reseed:  # recorded only when set
            raw["reseed"] = True
        return raw

    @staticmethod
    def describes(raw: dict) -> bool:
        """Whether a saved fitness description is a FitnessConfig's (not an older free-form
        one)."""
        return set(raw) <= {"data", "fitness_seeds", "episodes", "train", "reseed"} and \
            "data" in raw

    @classmethod
    def from_json(cls, raw: dict) -> FitnessConfig:
        return cls(data=tuple(raw["data"]), fitness_seeds=raw["fitness_seeds"],
                   episodes=raw["episodes"], reseed=raw.get("reseed", False),
                   train=TrainConfig.from_json(raw["train"]))


@dataclass(frozen=True)
class FitnessSetup:
    """What a fitness evaluation trains on and how (saved in the search config)."""

    family: str
    fitness_seeds: int = 1
    reseed: bool = False
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class FitnessContext:
    """Everything a shard needs besides its members; shipped once to each Ray worker."""

    setup: FitnessSetup
    reference: PolicyStack
    datasets: tuple[dict[str, np.ndarray], ...]
    scorer: Scorer


@dataclass(frozen=True)
class Shard:
    """Members trained as one population: rows ``members`` of the (candidate, seed) grid."""

    dataset: int
    candidates: tuple[int, ...]
    seeds: tuple[int, ...]


class Backend(Protocol):
    """Where shards run: ``workers`` is how many shards a dataset's members are split into."""

    workers: int

    def map(self, vectors: np.ndarray, shards: list[Shard]) -> list[np.ndarray]: ...


def fitness_seeds(n: int, generation: int = 0, reseed: bool = False) -> list[int]:
    """The ``n`` training seeds of a generation's members (the same every generation unless
    ``reseed``)."""
    first = FITNESS_SEED_BASE + (generation * n if reseed else 0)
    return list(range(first, first + n))


def plan_shards(n_candidates: int, seeds: list[int], n_datasets: int, workers: int
                ) -> list[Shard]:
    """Split each dataset's candidate × seed members into ≤ ``workers`` contiguous shards."""
    members = [(i, s) for i in range(n_candidates) for s in seeds]
    parts = [p for p in np.array_split(np.arange(len(members)), max(1, workers)) if len(p)]
    return [Shard(d, tuple(members[m][0] for m in p), tuple(members[m][1] for m in p))
            for d in range(n_datasets) for p in parts]


def shard_scores(ctx: FitnessContext, vectors: np.ndarray, shard: Shard,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Sampled-action scores (M,) of the shard's M members; −inf where training failed."""
    family = get_family(ctx.setup.family)
    losses = [family.loss(vectors[i]) for i in shard.candidates]
    res = train_population(ctx.reference, ctx.datasets[shard.dataset], losses,
                           list(shard.seeds), ctx.setup.train, progress=progress)
    stack = res.policy.to_stack()
    scores = np.full(len(losses), -np.inf)
    seeds = np.asarray(shard.seeds)
    for s in np.unique(seeds):
        idx = np.flatnonzero(seeds == s).tolist()
        scores[idx] = ctx.scorer(stack.select(idx), FITNESS_EVAL_SEED + int(s))[0]
    scores[res.failed] = -np.inf
    return scores


class InProcess:
    """Every dataset's members as one population in this process (the default)."""

    workers = 1

    def __init__(self, ctx: FitnessContext, progress: Callable[[int], None] | None = None):
        self.ctx, self.progress = ctx, progress

    def map(self, vectors: np.ndarray, shards: list[Shard]) -> list[np.ndarray]:
        return [shard_scores(self.ctx, vectors, sh, self.progress) for sh in shards]

    def close(self) -> None:
        pass


def combine(shards: list[Shard], results: list[np.ndarray], n_candidates: int,
            n_datasets: int) -> np.ndarray:
    """Per-member scores → fitness (P,): the mean over seeds and datasets (−inf if any failed)."""
    total = np.zeros(n_candidates)
    count = np.zeros(n_candidates)
    for sh, scores in zip(shards, results, strict=True):
        np.add.at(total, list(sh.candidates), scores)
        np.add.at(count, list(sh.candidates), 1)
    if not np.all(count == count[0]) or count[0] == 0:
        raise ValueError("shards do not cover every candidate equally")
    return total / count


def make_fitness(ctx: FitnessContext, backend: Backend
                 ) -> Callable[[np.ndarray, int], np.ndarray]:
    """fitness_fn(candidates (P, dim), generation) → (P,) mean score over seeds and datasets."""

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray:
        seeds = fitness_seeds(ctx.setup.fitness_seeds, generation, ctx.setup.reseed)
        shards = plan_shards(len(candidates), seeds, len(ctx.datasets), backend.workers)
        return combine(shards, backend.map(candidates, shards), len(candidates),
                       len(ctx.datasets))

    return fitness
