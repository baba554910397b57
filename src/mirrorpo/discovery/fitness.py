"""ES fitness: the mean normalised return of policies trained from the reference with each
candidate loss (docs/protocol.md; Alfano et al. 2025, §4).

For a generation's P candidate vectors, every (candidate, fitness seed) pair becomes one member
of a population-batched training run per dataset; members are scored on the episodes of their
seed and a candidate's fitness is the mean score over its seeds and the datasets. A member
whose loss or gradient goes non-finite scores −inf (the strategies rank it worst).

With ``pool`` the datasets are a meta-train pool of draws instead: each member trains on ONE
draw, chosen by its generation g and seed slot k (``pool_draws``: position (gK + k) mod D of the
pool's order with ``reseed``, k mod D without), the same for every candidate of the generation
(common random numbers). A generation then trains P × K members whatever the pool's size D, not
P × K × D. A pool may mix environments (and presets): each member trains from its draw's
environment's reference and is scored by that environment's normalised scorer (scores are 0–100
per environment, so the mean stays comparable), and the pool's order (``pool_order``) takes the
environments in turn, so a generation's K draws spread over the environments; within one
environment the draws keep their given order (a one-environment pool's order is the given one).

The members of a dataset may be split into shards, each trained as its own population (one per
Ray worker, see mirrorpo.discovery.ray_backend). A member's result does not depend on its shard:
minibatches come from its own seeded generator, its parameters and Adam state are its own, and
its episodes use common random numbers (mirrorpo.evaluation). Sharding therefore changes where
the work runs, not the fitness.

Fitness seeds are disjoint from the benchmark's validation (1000+), test (0+) and evaluation
seeds, so meta-test scores on fresh seeds are honest. By default they are fixed for the whole
search (common random numbers across generations); with ``reseed`` generation g draws seeds
2000 + gK .. 2000 + gK + K − 1, so candidates within a generation still share seeds but the
search cannot fit one training trajectory and one set of episodes. Under protocol 2
(mirrorpo.protocol) fitness seed s is scored on reset seeds 700000 + (s − 2000)·E + j, j < E
episodes: no two fitness seeds share a start state.

Successive halving (``halving_rungs``, off by default, not yet measured; docs/protocol.md):
the generation's members train as one population; after each rung's step count every
candidate still training is scored on ``halving_episodes`` episodes of reset seeds 900000 +
(s − 2000)·E' + j (disjoint from the fitness episodes while fitness seeds × episodes ≤ 200000),
ranked by its mean over its seeds, and only the better ⌈C/2⌉ of the C go on (``halve``). A
candidate's fitness is then ordered by (steps trained, score) (``halving_fitness``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.losses.family import get_family
from mirrorpo.policies import PolicyStack
from mirrorpo.protocol import PROTOCOL, PROTOCOLS, eval_seed
from mirrorpo.training.population import Pruning, Rung, TrainConfig, train_population

if TYPE_CHECKING:  # evaluation imports the simulators; annotations only need the name
    from mirrorpo.evaluation import Scorer

FITNESS_SEED_BASE = 2000
"""Fitness member k trains with seed 2000 + k ..."""
FITNESS_EVAL_SEED = 700_000
"""... and is scored on the episodes of reset seeds 700000 + k·E + j (protocol 2, E episodes;
700000 + (2000 + k) + j under protocol 1)."""
HALVING_EVAL_SEED = 900_000
"""At a halving rung, member k is ranked on reset seeds 900000 + k·E' + j (E' =
halving_episodes; 900000 + (2000 + k) + j under protocol 1)."""


@dataclass(frozen=True)
class FitnessConfig:
    """What a search's fitness trains on and how (nested in SearchConfig, saved with it)."""

    data: tuple[str, ...] = setting(help="Dataset directories, comma-separated (fitness "
                                         "averages over them; one environment, or several "
                                         "with pool).")
    fitness_seeds: int = setting(1, ge=1, help="Training seeds per candidate (fitness = mean "
                                               "score over them).")
    reseed: bool = setting(False, help="Draw fresh fitness seeds every generation (shared "
                                       "within it), so the search cannot fit one training "
                                       "trajectory and set of episodes.")
    episodes: int = setting(10, ge=2, help="Evaluation episodes per fitness member.")
    train: TrainConfig = setting(default_factory=TrainConfig, cli=False,
                                 help="Optimiser settings of every fitness member.")
    pool: bool = setting(False, help="Treat the datasets as a meta-train pool of draws: each "
                                     "fitness member trains on one draw (chosen by generation "
                                     "and seed, shared by the generation's candidates), so a "
                                     "generation costs the same whatever the pool's size; the "
                                     "draws may be of several environments.")
    halving_rungs: tuple[int, ...] = setting(
        (), help="Successive halving (off when empty; not yet measured): after each of these "
                 "step counts, rank the candidates still training on halving_episodes "
                 "episodes and train only the better half on; increasing, below the "
                 "training steps; one dataset, local backend.")
    halving_episodes: int = setting(5, ge=1, help="Episodes per fitness member at a halving "
                                                  "rung (reset seeds apart from the fitness "
                                                  "episodes).")
    protocol: int = setting(PROTOCOL, ge=min(PROTOCOLS), le=max(PROTOCOLS), cli=False,
                            help="Seed layout of the evaluation episodes (mirrorpo.protocol); "
                                 "a config saved without it is protocol 1.")

    def __post_init__(self):
        check(self)
        if not self.data:
            raise ConfigError("FitnessConfig.data: give at least one dataset directory")
        if self.pool and not self.reseed and self.fitness_seeds < len(self.data):
            raise ConfigError(f"FitnessConfig.pool: without reseed, member k always trains on "
                              f"draw k, so {len(self.data) - self.fitness_seeds} of the "
                              f"{len(self.data)} draws would never be used; give fitness_seeds "
                              "≥ the number of draws, or reseed")
        rungs = self.halving_rungs
        if rungs and (list(rungs) != sorted(set(rungs)) or rungs[0] < 1
                      or rungs[-1] >= self.train.steps):
            raise ConfigError(f"FitnessConfig.halving_rungs: increasing step counts in [1, "
                              f"{self.train.steps}) (TrainConfig.steps), got "
                              f"{','.join(map(str, rungs))}")
        if rungs and len(self.data) > 1:
            raise ConfigError("FitnessConfig.halving_rungs: one dataset only (a candidate is "
                              f"ranked within one population), got {len(self.data)}")
        # resolved, so the same dataset named by a relative or an absolute path is one config
        object.__setattr__(self, "data", tuple(os.path.abspath(d) for d in self.data))

    def to_json(self) -> dict:
        raw = {"data": list(self.data), "fitness_seeds": self.fitness_seeds,
               "episodes": self.episodes, "train": self.train.to_json()}
        if self.reseed:  # recorded only when set
            raw["reseed"] = True
        if self.pool:  # likewise
            raw["pool"] = True
        if self.protocol != 1:  # configs saved before protocols existed are protocol 1
            raw["protocol"] = self.protocol
        if self.halving_rungs:  # off: as configs saved before halving existed
            raw["halving_rungs"] = list(self.halving_rungs)
            raw["halving_episodes"] = self.halving_episodes
        return raw

    OPTIONAL = frozenset({"reseed", "pool", "protocol", "halving_rungs", "halving_episodes"})
    """Keys ``to_json`` may leave out."""

    @staticmethod
    def describes(raw: dict) -> bool:
        """Whether a saved fitness description is a FitnessConfig's (not an older free-form
        one)."""
        return set(raw) <= {"data", "fitness_seeds", "episodes", "train",
                            *FitnessConfig.OPTIONAL} and "data" in raw

    @classmethod
    def from_json(cls, raw: dict) -> FitnessConfig:
        return cls(data=tuple(raw["data"]), fitness_seeds=raw["fitness_seeds"],
                   episodes=raw["episodes"], reseed=raw.get("reseed", False),
                   pool=raw.get("pool", False), protocol=raw.get("protocol", 1),
                   halving_rungs=tuple(raw.get("halving_rungs", ())),
                   halving_episodes=raw.get("halving_episodes", 5),
                   train=TrainConfig.from_json(raw["train"]))


@dataclass(frozen=True)
class FitnessSetup:
    """What a fitness evaluation trains on and how (saved in the search config)."""

    family: str
    fitness_seeds: int = 1
    reseed: bool = False
    train: TrainConfig = TrainConfig()
    pool: bool = False
    """Each member trains on one dataset (``member_draws``), not on every one."""
    episodes: int = 10
    """Evaluation episodes per member (the scorer's): the stride of the reset seeds."""
    protocol: int = PROTOCOL
    halving_rungs: tuple[int, ...] = ()
    """Successive halving's step counts (FitnessConfig); () is off."""
    halving_episodes: int = 5


class Draw(NamedTuple):
    """A fitness dataset as a search records it (from its card)."""

    fingerprint: str
    """Its content fingerprint (mirrorpo.data.dataset.fingerprint)."""
    env: str
    preset: str
    """The preset id, e.g. mixed/v1."""
    seed: int
    """The seed of ``mirrorpo data make``."""


@dataclass(frozen=True)
class FitnessContext:
    """Everything a shard needs besides its members; shipped once to each Ray worker.

    ``reference`` and ``scorer`` are given once (every dataset of one environment) or as a
    tuple with one per dataset (its environment's); they are stored as tuples either way."""

    setup: FitnessSetup
    reference: PolicyStack | tuple[PolicyStack, ...]
    datasets: tuple[dict[str, np.ndarray], ...]
    scorer: Scorer | tuple[Scorer, ...]
    draws: tuple[Draw, ...] = ()
    """Each dataset's fingerprint, environment, preset and seed, recorded by the search."""

    def __post_init__(self):
        n = len(self.datasets)
        for name in ("reference", "scorer"):
            value = getattr(self, name)
            per_dataset = value if isinstance(value, tuple) else (value,) * n
            if len(per_dataset) != n:
                raise ValueError(f"FitnessContext.{name}: one per dataset ({n}), got "
                                 f"{len(per_dataset)}")
            object.__setattr__(self, name, per_dataset)
        if self.draws and len(self.draws) != n:
            raise ValueError(f"FitnessContext.draws: one per dataset ({n}), got "
                             f"{len(self.draws)}")

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """Each dataset's content fingerprint (() when the draws are not known)."""
        return tuple(d.fingerprint for d in self.draws)

    def order(self) -> list[int]:
        """The pool's order of the datasets (``pool_order`` of their environments)."""
        return pool_order([d.env for d in self.draws]) if self.draws \
            else list(range(len(self.datasets)))


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


def pool_draws(n: int, n_draws: int, generation: int = 0, reseed: bool = False) -> list[int]:
    """The draw of each of a generation's ``n`` seed slots in pool mode, as a position in the
    pool's order (``member_draws`` maps it to a dataset): (generation·n + k) mod n_draws with
    ``reseed`` (every draw in turn over the generations), k mod n_draws without. Every
    candidate of the generation uses the same draws."""
    first = generation * n if reseed else 0
    return [(first + k) % n_draws for k in range(n)]


def pool_order(envs: Sequence[str]) -> list[int]:
    """The order in which pool mode visits the draws, given each draw's environment: the
    environments in turn, each in proportion to its number of draws (draw r of an
    environment with n draws sits at (r + ½)/n, ties in first-seen order), each
    environment's draws in their given order. One environment: the given order."""
    by_env: dict[str, list[int]] = {}
    for i, env in enumerate(envs):
        by_env.setdefault(env, []).append(i)
    keyed = [(Fraction(2 * r + 1, 2 * len(idx)), e, i)
             for e, idx in enumerate(by_env.values()) for r, i in enumerate(idx)]
    return [i for _, _, i in sorted(keyed)]


def member_draws(n: int, order: Sequence[int], generation: int = 0,
                 reseed: bool = False) -> list[int]:
    """The dataset index of each of a generation's ``n`` seed slots in pool mode:
    ``pool_draws`` positions in the pool's ``order`` (``pool_order``)."""
    return [order[p] for p in pool_draws(n, len(order), generation, reseed)]


def plan_shards(n_candidates: int, seeds: list[int], n_datasets: int, workers: int,
                draws: list[int] | None = None) -> list[Shard]:
    """Split the candidate × seed members into ≤ ``workers`` contiguous shards per dataset.

    Without ``draws`` every member trains on every dataset; with ``draws`` (one dataset index
    per seed, ``member_draws``) the members of seed k train on dataset ``draws[k]`` only."""
    if draws is None:
        groups = [(d, list(seeds)) for d in range(n_datasets)]
    else:
        if len(draws) != len(seeds) or not all(0 <= d < n_datasets for d in draws):
            raise ValueError(f"draws {draws}: need one dataset index < {n_datasets} per seed")
        groups = [(d, [s for s, ds in zip(seeds, draws, strict=True) if ds == d])
                  for d in sorted(set(draws))]
    out = []
    for d, group in groups:
        members = [(i, s) for i in range(n_candidates) for s in group]
        parts = [p for p in np.array_split(np.arange(len(members)), max(1, workers)) if len(p)]
        out += [Shard(d, tuple(members[m][0] for m in p), tuple(members[m][1] for m in p))
                for p in parts]
    return out


def worker_context(ctx: FitnessContext, threads: int) -> FitnessContext:
    """``ctx`` for a worker of ``threads`` CPUs: torch's threads set to it, and its scorers'
    MuJoCo stepping threads too (Ray and process backends)."""
    import torch

    torch.set_num_threads(threads)
    return replace(ctx, scorer=tuple(replace(s, nthread=threads) if hasattr(s, "nthread")
                                     else s for s in ctx.scorer))


def shard_scores(ctx: FitnessContext, vectors: np.ndarray, shard: Shard,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Sampled-action scores (M,) of the shard's M members; −inf where training failed."""
    family = get_family(ctx.setup.family)
    losses = [family.loss(vectors[i]) for i in shard.candidates]
    scorer = ctx.scorer[shard.dataset]  # of the dataset's environment, as its reference
    res = train_population(ctx.reference[shard.dataset], ctx.datasets[shard.dataset], losses,
                           list(shard.seeds), ctx.setup.train, progress=progress)
    scores = member_scores(scorer, res.policy.to_stack(), np.asarray(shard.seeds),
                           FITNESS_EVAL_SEED, ctx.setup.episodes, ctx.setup.protocol)
    scores[res.failed] = -np.inf
    return scores


def member_scores(scorer: Scorer, stack: PolicyStack, seeds: np.ndarray, base: int,
                  episodes: int, protocol: int) -> np.ndarray:
    """Sampled-action scores (M,) of the M policies of ``stack``, member i trained with
    ``seeds[i]`` and scored on the ``episodes`` episodes (the scorer's) of its evaluation
    seed (``eval_seed`` from ``base``)."""
    scores = np.full(len(seeds), -np.inf)
    for s in np.unique(seeds):
        idx = np.flatnonzero(seeds == s).tolist()
        seed = eval_seed(base, int(s), FITNESS_SEED_BASE, episodes, protocol)
        scores[idx] = scorer(stack.select(idx), seed)[0]
    return scores


def halve(candidate: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Successive halving's cut (Jamieson & Talwalkar 2016, arXiv 1502.07943): members (M,)
    of candidates ``candidate`` with scores ``score`` → bool (M,), True for the members of the
    better ⌈C/2⌉ of the C candidates, ranked by their mean score (non-finite counts as −inf;
    ties go to the lower candidate index), so a candidate's members stay or go together."""
    ids, inv = np.unique(candidate, return_inverse=True)
    s = np.where(np.isfinite(score), score, -np.inf)
    mean = np.zeros(len(ids))
    np.add.at(mean, inv, s)
    mean /= np.bincount(inv)
    order = np.lexsort((ids, -mean))  # best first
    keep = np.zeros(len(ids), dtype=bool)
    keep[order[:-(-len(ids) // 2)]] = True
    return keep[inv]


def halving_fitness(score: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The fitness (P,) told to the strategy under successive halving: candidates ordered by
    (steps trained, score) lexicographically, so a candidate dropped at a rung ranks below
    every one that went further. Those that trained longest keep their score; each lower
    rung's finite scores s are shifted by one constant, f = s − max s + min f_above − 1, where
    min f_above is the lowest finite fitness of the longer-trained candidates. Non-finite stays
    (the strategies rank it worst). OpenAI-ES (centred ranks) and CMA-ES (rank-based
    selection) use only the order, which the shift keeps within a rung."""
    f = np.array(score, dtype=np.float64)
    steps = np.asarray(steps)
    floor = None
    for r in sorted(set(steps.tolist()), reverse=True):
        at = (steps == r) & np.isfinite(f)
        if not at.any():
            continue
        if floor is not None:
            f[at] += floor - 1.0 - f[at].max()
        floor = f[at].min()
    return f


def halving_scores(ctx: FitnessContext, vectors: np.ndarray, shard: Shard,
                   progress: Callable[[int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Successive halving over the shard's members (module docstring) → their scores (M,),
    each at the last step it trained (its rung's on ``halving_episodes`` episodes, or the
    fitness score after all steps; −inf where training failed), and those steps (M,)."""
    setup = ctx.setup
    family = get_family(setup.family)
    losses = [family.loss(vectors[i]) for i in shard.candidates]
    scorer = ctx.scorer[shard.dataset]
    rung_scorer = replace(scorer, episodes=setup.halving_episodes)
    candidates, seeds = np.asarray(shard.candidates), np.asarray(shard.seeds)
    scores = np.full(len(losses), -np.inf)

    def keep(rung: Rung) -> np.ndarray:
        s = member_scores(rung_scorer, rung.stack, seeds[rung.members], HALVING_EVAL_SEED,
                          setup.halving_episodes, setup.protocol)
        s[rung.failed] = -np.inf
        scores[rung.members] = s
        return rung.members[halve(candidates[rung.members], s)]

    res = train_population(ctx.reference[shard.dataset], ctx.datasets[shard.dataset], losses,
                           list(shard.seeds), setup.train, progress=progress,
                           pruning=Pruning(setup.halving_rungs, keep))
    done = np.flatnonzero(res.steps_trained == setup.train.steps)
    scores[done] = member_scores(scorer, res.policy.to_stack().select(done.tolist()),
                                 seeds[done], FITNESS_EVAL_SEED, setup.episodes,
                                 setup.protocol)
    scores[res.failed] = -np.inf
    return scores, res.steps_trained


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
    """Per-member scores → fitness (P,): the mean over each candidate's members, its seeds and
    datasets (−inf if any failed)."""
    total = np.zeros(n_candidates)
    count = np.zeros(n_candidates)
    for sh, scores in zip(shards, results, strict=True):
        np.add.at(total, list(sh.candidates), scores)
        np.add.at(count, list(sh.candidates), 1)
    if not np.all(count == count[0]) or count[0] == 0:
        raise ValueError("shards do not cover every candidate equally")
    return total / count


class Halved(NamedTuple):
    """A generation's fitness under successive halving (``make_fitness``)."""

    fitness: np.ndarray
    """(P,) what the strategy is told: ``halving_fitness`` of the two below."""
    score: np.ndarray
    """(P,) each candidate's mean score at the last step it trained."""
    steps: np.ndarray
    """(P,) int: the steps it trained (TrainConfig.steps when it was never dropped)."""


def make_fitness(ctx: FitnessContext, backend: Backend
                 ) -> Callable[[np.ndarray, int], np.ndarray | Halved]:
    """fitness_fn(candidates (P, dim), generation) → (P,) mean score over seeds and datasets
    (in pool mode, over seeds, each on its draw: ``member_draws`` in the pool's order); with
    ``halving_rungs``, a ``Halved`` (one population, in this process: an ``InProcess``
    backend)."""

    def fitness(candidates: np.ndarray, generation: int) -> np.ndarray | Halved:
        setup = ctx.setup
        seeds = fitness_seeds(setup.fitness_seeds, generation, setup.reseed)
        draws = member_draws(len(seeds), ctx.order(), generation, setup.reseed) \
            if setup.pool else None
        shards = plan_shards(len(candidates), seeds, len(ctx.datasets), backend.workers, draws)
        if not setup.halving_rungs:
            return combine(shards, backend.map(candidates, shards), len(candidates),
                           len(ctx.datasets))
        if not isinstance(backend, InProcess) or len(shards) != 1:
            raise ConfigError("FitnessConfig.halving_rungs: needs every member in one "
                              "population (one dataset, the local backend)")
        score, steps = halving_scores(ctx, candidates, shards[0], backend.progress)
        per_candidate = [combine(shards, [v], len(candidates), 1) for v in (score, steps)]
        score, steps = per_candidate[0], per_candidate[1].astype(int)
        return Halved(halving_fitness(score, steps), score, steps)

    return fitness
