"""A search run: an evolution strategy over an MPO family, in a directory that never loses a
completed generation.

After every generation three files are replaced atomically (``write_text_atomic``):

* ``state.json``: the config, the history (per generation: the mean the candidates were sampled
  around, their fitness, and best / mean / median of the finite fitness values), the best
  candidate so far, the current mean and its formula;
* ``best.json`` and ``mean.json``: the best candidate so far and the current mean as loss files
  (``MPOLoss.save``; load them with ``load_mpo``).

Resume replays: the strategy is rebuilt from the config and told the recorded fitness arrays
(``strategies.replay``), which reproduces its exact state; nothing is ever unpickled. Floats are
stored so that the JSON round trip is exact: finite values as JSON numbers (Python writes the
shortest repr, which reads back bit-identical), NaN and ±inf as the strings "nan", "inf", "-inf".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses.mpo import (
    FAMILIES,
    MPOLoss,
    apo_zero_point,
    dpo_point,
    formula,
    from_vector,
    in_family,
    load_mpo,
    orpo_point,
    sppo_hard_point,
    to_vector,
)
from mirrorpo.search.strategies import STRATEGIES

STATE_FILE = "state.json"
BEST_FILE = "best.json"
MEAN_FILE = "mean.json"
STATE_VERSION = 1
START_POINTS = {"dpo": dpo_point, "orpo": orpo_point, "apo-zero": apo_zero_point,
                "sppo-hard": sppo_hard_point}
"""Start name → the MPO parameters (at their default β / λ) the search starts from."""

FitnessFn = Callable[[np.ndarray, int], np.ndarray]
"""fitness_fn(candidates (P, dim), generation) → fitness (P,); higher is better, NaN/±inf fail."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search's numbers (saved in state.json; resume checks it)."""

    strategy: str = "openai-es"
    """A key of ``STRATEGIES``."""
    family: str = "mpo"
    """The loss family searched: "mpo" or "ta-mpo"."""
    start: str = "dpo"
    """The start point x0, a key of ``START_POINTS`` ("dpo", "orpo", "apo-zero",
    "sppo-hard"), or, with ``start_vector``, the loss file that vector was read from."""
    popsize: int = 16
    """Candidates per generation."""
    generations: int = 50
    """Generations to run (≥ 1)."""
    seed: int = 0
    """Seed of the strategy's random numbers (≥ 0)."""
    strategy_options: dict = field(default_factory=dict)
    """Further fields of the strategy's ``Settings`` (e.g. {"sigma": 0.1}); popsize and seed
    come from the fields above."""
    fitness: dict = field(default_factory=dict)
    """Free-form, JSON-serialisable description of the fitness setup; saved and compared on
    resume, not interpreted here."""
    start_vector: list[float] | None = None
    """x0 itself, as a vector of ``family`` (a start from a loss file, see
    ``start_from_file``); saved, so a resume never rereads the file."""

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy '{self.strategy}'; "
                             f"choose one of {', '.join(STRATEGIES)}")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown loss family '{self.family}'; "
                             f"choose one of {', '.join(FAMILIES)}")
        if self.start_vector is None and self.start not in START_POINTS:
            raise ValueError(f"unknown start point '{self.start}'; "
                             f"choose one of {', '.join(START_POINTS)} or a loss file")
        if self.start_vector is not None:
            from_vector(self.start_vector, self.family)  # checks the length
            if not all(math.isfinite(v) for v in self.start_vector):
                raise ValueError("start_vector must be finite")
        if self.generations < 1:
            raise ValueError(f"generations must be ≥ 1, got {self.generations}")
        self.strategy_settings()  # checks the options
        try:
            json.dumps(self.to_json(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the search config must be plain JSON ({exc})") from None

    def strategy_settings(self):
        """The strategy's ``Settings`` built from ``strategy_options``, popsize and seed."""
        settings_cls = STRATEGIES[self.strategy].Settings
        names = {f.name for f in fields(settings_cls)} - {"popsize", "seed"}
        unknown = set(self.strategy_options) - names
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} for "
                             f"{self.strategy}; it takes {', '.join(sorted(names))}")
        return settings_cls(**self.strategy_options, popsize=self.popsize, seed=self.seed)

    def x0(self) -> np.ndarray:
        """The start point as a flat vector of ``family``, (dim,)."""
        if self.start_vector is not None:
            return np.array(self.start_vector, dtype=np.float64)
        return to_vector(START_POINTS[self.start](), self.family)

    def to_json(self) -> dict:
        """The config as JSON; ``start_vector`` only when set, so runs made before it existed
        still resume."""
        raw = asdict(self)
        if self.start_vector is None:
            del raw["start_vector"]
        return raw

    @classmethod
    def from_json(cls, raw: dict) -> SearchConfig:
        return cls(**raw)


def start_from_file(path: str | Path, family: str) -> tuple[str, list[float]]:
    """(start, start_vector) for a search of ``family`` starting at the loss in ``path``
    (an MPO or TA-MPO loss file, e.g. an earlier search's best.json), converted by
    ``in_family``; errors name the file."""
    loss = load_mpo(path)  # its errors name the file already
    try:
        loss = in_family(loss, family)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return str(path), [float(v) for v in loss.vector]


class GenerationStats(NamedTuple):
    """Summary of one generation's fitness over its finite values (NaN when none is)."""

    generation: int
    best: float
    mean: float
    median: float
    failed: int
    """Members whose fitness was NaN or ±inf."""


def generation_stats(generation: int, fitness: np.ndarray) -> GenerationStats:
    """Best, mean and median of the finite entries of ``fitness`` (P,), and the failed count."""
    finite = fitness[np.isfinite(fitness)]
    if finite.size == 0:
        return GenerationStats(generation, math.nan, math.nan, math.nan, int(fitness.size))
    return GenerationStats(generation, float(finite.max()), float(finite.mean()),
                           float(np.median(finite)), int(fitness.size - finite.size))


class Generation(NamedTuple):
    """One completed generation."""

    mean: np.ndarray  # (dim,) the centre its candidates were sampled around
    fitness: np.ndarray  # (P,) as returned by fitness_fn, non-finite values kept


class Best(NamedTuple):
    """The best candidate so far (highest finite fitness; the earliest wins ties)."""

    vector: np.ndarray  # (dim,)
    fitness: float
    generation: int


def update_best(best: Best | None, candidates: np.ndarray, fitness: np.ndarray,
                generation: int) -> Best | None:
    """``best`` or this generation's best finite candidate (P, dim) / (P,), if strictly better."""
    finite = np.isfinite(fitness)
    if not finite.any():
        return best
    i = int(np.argmax(np.where(finite, fitness, -np.inf)))
    if best is not None and not fitness[i] > best.fitness:
        return best
    return Best(candidates[i].copy(), float(fitness[i]), generation)


@dataclass(frozen=True)
class SearchResult:
    """What a search found: the best candidate, the final mean and the per-generation record."""

    best: Best | None
    """None while no candidate has had a finite fitness."""
    mean: np.ndarray  # (dim,) the strategy's mean after the last generation
    history: tuple[Generation, ...]
    stats: tuple[GenerationStats, ...]


# ----------------------------------------------------------------------------- JSON encoding


def encode_floats(values: np.ndarray) -> list[float | str]:
    """(n,) → a JSON list: finite values as numbers, NaN and ±inf as "nan", "inf", "-inf"."""
    return [v if math.isfinite(v) else str(v) for v in np.asarray(values, np.float64).tolist()]


def decode_floats(values: list[float | str]) -> np.ndarray:
    """Inverse of ``encode_floats``, (n,)."""
    return np.array([float(v) for v in values], dtype=np.float64)


def _encode_float(value: float) -> float | str:
    return encode_floats(np.array([value]))[0]


def state_to_json(config: SearchConfig, history: list[Generation], best: Best | None,
                  mean: np.ndarray) -> dict:
    return {
        "version": STATE_VERSION,
        "config": config.to_json(),
        "generations_done": len(history),
        "formula": formula(from_vector(mean, config.family), config.family),
        "mean_vector": encode_floats(mean),
        "best": None if best is None else {
            "generation": best.generation, "fitness": _encode_float(best.fitness),
            "vector": encode_floats(best.vector)},
        "history": [
            {**{k: _encode_float(v) if isinstance(v, float) else v
                for k, v in generation_stats(g, gen.fitness)._asdict().items()},
             "mean_vector": encode_floats(gen.mean), "fitness": encode_floats(gen.fitness)}
            for g, gen in enumerate(history)
        ],
    }


def read_state(out_dir: str | Path) -> dict:
    """The raw state.json of a run directory; errors name the file and the problem."""
    path = Path(out_dir) / STATE_FILE
    raw = read_json(path, "search state")
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: not a search state of version {STATE_VERSION}")
    return raw


def history_from_json(raw: dict) -> list[Generation]:
    """The generations of a decoded state.json."""
    return [Generation(decode_floats(g["mean_vector"]), decode_floats(g["fitness"]))
            for g in raw["history"]]


def load_result(out_dir: str | Path) -> SearchResult:
    """The result recorded in a run directory (complete or not)."""
    raw = read_state(out_dir)
    history = tuple(history_from_json(raw))
    b = raw["best"]
    best = None if b is None else Best(decode_floats(b["vector"]), float(b["fitness"]),
                                       b["generation"])
    return SearchResult(best, decode_floats(raw["mean_vector"]), history,
                        tuple(generation_stats(g, gen.fitness) for g, gen in enumerate(history)))


def _save(out: Path, config: SearchConfig, history: list[Generation], best: Best | None,
          mean: np.ndarray) -> None:
    """Write state.json (the record resume reads), then best.json and mean.json."""
    state = state_to_json(config, history, best, mean)
    write_text_atomic(out / STATE_FILE, json.dumps(state, indent=1, allow_nan=False) + "\n")
    if best is not None:
        MPOLoss(config.family, from_vector(best.vector, config.family)).save(out / BEST_FILE)
    MPOLoss(config.family, from_vector(mean, config.family)).save(out / MEAN_FILE)


def _recorded_history(out: Path, config: SearchConfig, resume: bool) -> list[Generation]:
    """The generations already in ``out`` ([] for a new run); refuses a clash."""
    if not (out / STATE_FILE).exists():
        return []
    if not resume:
        raise FileExistsError(f"{out}: already holds a search ({STATE_FILE}); resume it or "
                              f"choose another directory")
    raw = read_state(out)
    if raw["config"] != json.loads(json.dumps(config.to_json())):
        raise FileExistsError(f"{out}: holds a different search (its {STATE_FILE} has another "
                              f"config); pass the same config to resume it, or another directory")
    history = history_from_json(raw)
    if any(gen.fitness.shape != (config.popsize,) for gen in history):
        raise ValueError(f"{out / STATE_FILE}: a recorded fitness array is not of size "
                         f"{config.popsize}")
    return history


def _evaluate(fitness_fn: FitnessFn, candidates: np.ndarray, generation: int) -> np.ndarray:
    fitness = np.asarray(fitness_fn(candidates.copy(), generation), dtype=np.float64)
    if fitness.shape != (candidates.shape[0],):
        raise ValueError(f"fitness_fn returned shape {fitness.shape}, "
                         f"expected ({candidates.shape[0]},)")
    return fitness


def run_search(config: SearchConfig, out_dir: str | Path, fitness_fn: FitnessFn, *,
               resume: bool, progress: Callable[[int], None] | None = None,
               log: Callable[[str], None] | None = None) -> SearchResult:
    """Run (or, with ``resume``, continue) the search ``config`` in ``out_dir``.

    Without ``resume`` a directory that already holds a state.json is refused; with it, a
    state.json of another config is refused, and a directory without one starts afresh.
    Recorded generations are replayed (their fitness is not re-evaluated) and checked: the
    replayed mean of each must equal the recorded one bit for bit. An exception from
    ``fitness_fn`` propagates; every generation completed before it is on disk.
    ``progress(1)`` is called per generation, replayed ones included.
    """
    out = Path(out_dir)
    recorded = _recorded_history(out, config, resume)
    if recorded and log is not None:
        log(f"resuming {out}: {len(recorded)} of {config.generations} generations done")
    out.mkdir(parents=True, exist_ok=True)
    strategy = STRATEGIES[config.strategy](config.strategy_settings(), config.x0())
    history: list[Generation] = []
    best: Best | None = None
    for g in range(config.generations):
        mean, candidates = strategy.mean, strategy.ask()  # (dim,), (P, dim)
        if g < len(recorded):
            if not np.array_equal(mean, recorded[g].mean):
                raise RuntimeError(f"{out}: cannot resume, replay does not reproduce the mean "
                                   f"of generation {g} (start point, strategy code or loss-family "
                                   f"version changed?)")
            fitness = recorded[g].fitness
        else:
            fitness = _evaluate(fitness_fn, candidates, g)
        strategy.tell(fitness)
        history.append(Generation(mean, fitness))
        best = update_best(best, candidates, fitness, g)
        if g + 1 >= len(recorded):  # new, or the last replayed (refreshes best/mean.json)
            _save(out, config, history, best, strategy.mean)
        if log is not None and g >= len(recorded):
            s = generation_stats(g, fitness)
            log(f"generation {g + 1}/{config.generations}: best {s.best:.4g}, "
                f"mean {s.mean:.4g}, median {s.median:.4g}, failed {s.failed}; best so far "
                f"{math.nan if best is None else best.fitness:.4g}")
        if progress is not None:
            progress(1)
    return SearchResult(best, strategy.mean, tuple(history),
                        tuple(generation_stats(g, gen.fitness) for g, gen in enumerate(history)))
