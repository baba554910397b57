"""ES fitness: the mean normalised return of policies trained from the reference with each
candidate loss (DESIGN.md §4; Alfano et al. 2025, §4).

For a generation's P candidate vectors, every (candidate, fitness seed) pair becomes one member
of a single population-batched training run per dataset; members are scored on the episodes of
their seed and a candidate's fitness is the mean score over its seeds and the datasets. A
member whose loss or gradient goes non-finite scores −inf (the strategies rank it worst).

Fitness seeds are fixed for the whole search and disjoint from the benchmark's validation
(1000+), test (0+) and evaluation seeds, so meta-test scores on fresh seeds are honest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mirrorpo.losses.mpo import MPOLoss, from_vector
from mirrorpo.policies import PolicyStack
from mirrorpo.train.population import TrainConfig, train_population

FITNESS_SEED_BASE = 2000
"""Fitness member k trains with seed 2000 + k ..."""
FITNESS_EVAL_SEED = 700_000
"""... and is scored on the episodes of reset seeds 700000 + (2000 + k) + j."""

Scorer = Callable[[PolicyStack, int], tuple[np.ndarray, np.ndarray]]
"""(policies, eval seed) → (sampled scores, mean-action scores), each (P,)."""


@dataclass(frozen=True)
class FitnessSetup:
    """What a fitness evaluation trains on and how (saved in the search config)."""

    family: str
    fitness_seeds: int = 1
    train: TrainConfig = TrainConfig()


def fitness_seeds(n: int) -> list[int]:
    return [FITNESS_SEED_BASE + k for k in range(n)]


def candidate_scores(candidates: np.ndarray, setup: FitnessSetup, reference: PolicyStack,
                     arrays: dict[str, np.ndarray], scorer: Scorer,
                     progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Scores (P, K) of P candidate vectors on one dataset, K fitness seeds; −inf on failure."""
    seeds = fitness_seeds(setup.fitness_seeds)
    losses = [MPOLoss(setup.family, from_vector(c, setup.family)) for c in candidates]
    members = [(i, s) for i in range(len(losses)) for s in seeds]
    res = train_population(reference, arrays, [losses[i] for i, _ in members],
                           [s for _, s in members], setup.train, progress=progress)
    stack = res.policy.to_stack()
    scores = np.full(len(members), -np.inf)
    for s in seeds:
        idx = [m for m, (_, ms) in enumerate(members) if ms == s]
        sampled, _ = scorer(stack.select(idx), FITNESS_EVAL_SEED + s)
        scores[idx] = sampled
    scores[res.failed] = -np.inf
    return scores.reshape(len(losses), len(seeds))


def make_fitness(setup: FitnessSetup, reference: PolicyStack,
                 datasets: list[dict[str, np.ndarray]], scorer: Scorer,
                 progress: Callable[[int], None] | None = None
                 ) -> Callable[[np.ndarray, int], np.ndarray]:
    """fitness_fn(candidates (P, dim), generation) → (P,) mean score over seeds and datasets."""

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray:
        per_dataset = [candidate_scores(candidates, setup, reference, arrays, scorer, progress)
                       for arrays in datasets]
        return np.concatenate(per_dataset, axis=1).mean(axis=1)  # −inf if any run failed

    return fitness
