"""A search run: an evolution strategy over a loss family (mirrorpo.losses.family), in a
directory that never loses a completed generation.

After every generation three files are replaced atomically (``write_text_atomic``):

* ``state.json``: the config, the history (per generation: the mean the candidates were sampled
  around, their fitness, best / mean / median of the finite fitness values, and in pool mode
  ``draws``, the dataset index each fitness seed slot trained on, shared by the generation's
  candidates; with successive halving ``score`` and ``steps``, each candidate's score at the
  last step it trained and those steps, ``fitness`` being what the strategy was told and the
  best / mean / median over the candidates that trained every step), the best candidate so
  far, the current mean and its formula, and
  (``fitness_fingerprints``) the content fingerprint of each fitness dataset, with
  (``fitness_draws``) its environment, preset and seed;
* ``best.json`` and ``mean.json``: the best candidate so far and the current mean as loss files
  (the family's ``loss(vector).save``; load them with ``mirrorpo.losses.family.load_loss``),
  with the fitness datasets' fingerprints as ``fitted_on`` (the meta-test refuses those).

Resume replays: the strategy is rebuilt from the config and told the recorded fitness arrays
(``strategies.replay``), which reproduces its exact state; nothing is ever unpickled. Floats are
stored so that the JSON round trip is exact: finite values as JSON numbers (Python writes the
shortest repr, which reads back bit-identical), NaN and ±inf as the strings "nan", "inf", "-inf".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mirrorpo.config import ConfigError, check, first_difference, setting
from mirrorpo.discovery.fitness import Draw, FitnessConfig, Halved, member_draws, pool_order
from mirrorpo.discovery.strategies import STRATEGIES
from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses.family import FAMILIES, get_family, load_loss, start_point_names

STATE_FILE = "state.json"
BEST_FILE = "best.json"
MEAN_FILE = "mean.json"
STATE_VERSION = 1
START_POINTS = start_point_names()
"""The start-point names of every loss family (a family's own: ``get_family(f).start_points``,
name → vector)."""

FitnessFn = Callable[[np.ndarray, int], np.ndarray | Halved]
"""fitness_fn(candidates (P, dim), generation) → fitness (P,); higher is better, NaN/±inf fail
(or a ``Halved``: that fitness with each candidate's score and steps trained)."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search's numbers (saved in state.json; resume checks it)."""

    strategy: str = setting("openai-es", help="Evolution strategy.",
                            choices=lambda: tuple(STRATEGIES))
    family: str = setting("mpo", help="Loss family searched (mirrorpo.losses.family).",
                          choices=lambda: tuple(FAMILIES))
    start: str = setting("dpo", help="Start point: a named exact point of the family (dpo, "
                                     "orpo, apo-zero, sppo-hard, distilled at its default β "
                                     "or λ), or a "
                                     "loss file such as an earlier search's best.json (an MPO "
                                     "loss starts TA-MPO with constant schedules).")
    popsize: int = setting(16, ge=2, help="Candidates per generation (even for OpenAI-ES).")
    generations: int = setting(50, ge=1, help="Generations to run.")
    seed: int = setting(0, ge=0, help="Seed of the strategy.")
    strategy_options: dict = setting(default_factory=dict, cli=False,
                                     help="Further fields of the strategy's Settings (e.g. "
                                          "{'sigma': 0.1}); popsize and seed come from above.")
    fitness: FitnessConfig | dict = setting(default_factory=dict, cli=False,
                                            help="What fitness trains on and how "
                                                 "(FitnessConfig); a dict is a free-form "
                                                 "description (tests, older runs).")
    start_vector: list[float] | None = setting(None, cli=False,
                                               help="x0 itself, as a vector of the family "
                                                    "(set from a start loss file; saved, so a "
                                                    "resume never rereads the file).")

    def __post_init__(self):
        check(self)
        family = get_family(self.family)
        if self.start_vector is None and self.start not in family.start_points:
            if not self.start.endswith(".json"):
                raise ConfigError(f"SearchConfig.start: unknown start point '{self.start}'; "
                                  f"choose one of {', '.join(family.start_points)} or a loss "
                                  "file")
            try:
                _, vector = start_from_file(self.start, self.family)
            except ValueError as exc:
                raise ConfigError(f"SearchConfig.start: {exc}") from None
            object.__setattr__(self, "start_vector", vector)
        if self.start_vector is not None:
            family.loss(self.start_vector)  # checks the length
            if not all(math.isfinite(v) for v in self.start_vector):
                raise ConfigError("SearchConfig.start_vector: must be finite")
        if self.strategy == "openai-es" and self.popsize % 2:
            raise ConfigError("SearchConfig.popsize: OpenAI-ES samples antithetic pairs, so it "
                              f"must be even, got {self.popsize}")
        self.strategy_settings()  # checks the options
        try:
            json.dumps(self.to_json(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"SearchConfig: must be plain JSON ({exc})") from None

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
        return np.asarray(get_family(self.family).start_points[self.start](),
                          dtype=np.float64)

    def to_json(self) -> dict:
        """The config as JSON; ``start_vector`` only when set, so runs made before it existed
        still resume."""
        raw = {f.name: getattr(self, f.name) for f in fields(self)}
        raw["strategy_options"] = dict(self.strategy_options)
        raw["fitness"] = (self.fitness.to_json() if isinstance(self.fitness, FitnessConfig)
                          else dict(self.fitness))
        if self.start_vector is None:
            del raw["start_vector"]
        return raw

    @classmethod
    def from_json(cls, raw: dict) -> SearchConfig:
        fitness = raw.get("fitness", {})
        if isinstance(fitness, dict) and FitnessConfig.describes(fitness):
            fitness = FitnessConfig.from_json(fitness)
        return cls(**{**raw, "fitness": fitness})


def strategy_options(strategy: str, sigma: float | None = None,
                     learning_rate: float | None = None) -> dict:
    """The ``strategy_options`` of a search from its step size and (OpenAI-ES) learning rate;
    None keeps the strategy's default, which is then not recorded."""
    out = {}
    if sigma is not None:
        out["sigma0" if strategy == "cma-es" else "sigma"] = sigma
    if learning_rate is not None:
        if strategy != "openai-es":
            raise ConfigError(f"es_learning_rate: only for openai-es, not {strategy}")
        out["learning_rate"] = learning_rate
    return out


def start_from_file(path: str | Path, family: str) -> tuple[str, list[float]]:
    """(start, start_vector) for a search of ``family`` starting at the loss in ``path``
    (a loss file of any family, e.g. an earlier search's best.json), converted by the
    family's ``convert``; errors name the file."""
    loss = load_loss(path)  # its errors name the file already
    try:
        vector = get_family(family).convert(loss)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return str(path), [float(v) for v in vector]


class GenerationStats(NamedTuple):
    """Summary of one generation's fitness over its finite values (NaN when none is)."""

    generation: int
    best: float
    mean: float
    median: float
    failed: int
    """Members whose fitness was NaN or ±inf."""


def generation_stats(generation: int, fitness: np.ndarray,
                     complete: np.ndarray | None = None) -> GenerationStats:
    """Best, mean and median of the finite entries of ``fitness`` (P,), and the failed count;
    with ``complete`` (P,) bool, best, mean and median over those entries only (successive
    halving: the candidates that trained every step)."""
    finite = fitness[np.isfinite(fitness) & (True if complete is None else complete)]
    if finite.size == 0:
        return GenerationStats(generation, math.nan, math.nan, math.nan,
                               int((~np.isfinite(fitness)).sum()))
    return GenerationStats(generation, float(finite.max()), float(finite.mean()),
                           float(np.median(finite)), int((~np.isfinite(fitness)).sum()))


class Generation(NamedTuple):
    """One completed generation."""

    mean: np.ndarray  # (dim,) the centre its candidates were sampled around
    fitness: np.ndarray  # (P,) as returned by fitness_fn, non-finite values kept
    score: np.ndarray | None = None  # (P,) successive halving: score at the last step trained
    steps: np.ndarray | None = None  # (P,) successive halving: steps trained

    def stats(self, generation: int) -> GenerationStats:
        """``generation_stats``, over the candidates that trained every step."""
        complete = None if self.steps is None else self.steps == self.steps.max()
        return generation_stats(generation, self.fitness, complete)


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


def generation_draws(config: SearchConfig, draws: Sequence[Draw],
                     generation: int) -> list[int] | None:
    """The dataset index of each fitness seed slot of ``generation`` in pool mode
    (``member_draws`` in the pool's order of ``draws``' environments); None otherwise."""
    fit = config.fitness
    if not (draws and isinstance(fit, FitnessConfig) and fit.pool):
        return None
    return member_draws(fit.fitness_seeds, pool_order([d.env for d in draws]), generation,
                        fit.reseed)


def state_to_json(config: SearchConfig, history: list[Generation], best: Best | None,
                  mean: np.ndarray, fitted_on: Sequence[str] = (),
                  draws: Sequence[Draw] = ()) -> dict:
    """The state.json record; ``fitness_fingerprints`` only when ``fitted_on`` is given,
    ``fitness_draws`` and each generation's ``draws`` (pool mode) only with ``draws``."""
    def generation(g: int, gen: Generation) -> dict:
        record = {**{k: _encode_float(v) if isinstance(v, float) else v
                     for k, v in gen.stats(g)._asdict().items()},
                  "mean_vector": encode_floats(gen.mean), "fitness": encode_floats(gen.fitness)}
        if gen.steps is not None:
            record |= {"score": encode_floats(gen.score), "steps": gen.steps.tolist()}
        slots = generation_draws(config, draws, g)
        return record if slots is None else {**record, "draws": slots}

    return {
        "version": STATE_VERSION,
        "config": config.to_json(),
        "generations_done": len(history),
        "formula": get_family(config.family).formula(mean),
        "mean_vector": encode_floats(mean),
        "best": None if best is None else {
            "generation": best.generation, "fitness": _encode_float(best.fitness),
            "vector": encode_floats(best.vector)},
        "history": [generation(g, gen) for g, gen in enumerate(history)],
        **({"fitness_fingerprints": list(fitted_on)} if fitted_on else {}),
        **({"fitness_draws": [{"env": d.env, "preset": d.preset, "seed": d.seed}
                              for d in draws]} if draws else {}),
    }


def read_state(out_dir: str | Path) -> dict:
    """The raw state.json of a run directory, checked: its structure and types
    (``mirrorpo.schemas.SearchState``), its config (a valid ``SearchConfig``) and every size
    the config implies (vectors of the family's dimension, fitness arrays of popsize). Errors
    are one-line ValueErrors naming the file, the field and the problem."""
    from mirrorpo.schemas import SearchState, dataclass_model, validate

    path = Path(out_dir) / STATE_FILE
    raw = read_json(path, "search state")
    version = raw.get("version") if isinstance(raw, dict) else None
    if type(version) is not int or version != STATE_VERSION:
        raise ValueError(f"{path}: not a search state of version {STATE_VERSION}")
    state = validate(SearchState, raw, path)
    config_raw = raw["config"]
    validate(dataclass_model(SearchConfig, frozenset({"start_vector"})), config_raw, path,
             field="config")
    if config_raw["strategy"] in STRATEGIES:
        validate(dataclass_model(STRATEGIES[config_raw["strategy"]].Settings),
                 config_raw["strategy_options"], path, field="config.strategy_options")
    if isinstance(config_raw["fitness"], dict) and FitnessConfig.describes(config_raw["fitness"]):
        validate(dataclass_model(FitnessConfig, FitnessConfig.OPTIONAL),
                 config_raw["fitness"], path, field="config.fitness")
    try:
        config = SearchConfig.from_json(config_raw)
    except (ValueError, FileNotFoundError) as exc:  # the latter: a start loss file it names
        raise ValueError(f"{path}: config: {exc}") from None
    family = get_family(config.family)
    dim = len(family.param_names)

    def check(where: str, ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"{path}: {where}: {what}")

    def check_size(where: str, values: list, size: int, of: str) -> None:
        check(where, len(values) == size, f"has {len(values)} values, expected {size} ({of})")

    dims = f"the {config.family} parameters"
    check_size("mean_vector", state.mean_vector, dim, dims)
    if isinstance(config.fitness, FitnessConfig):
        n_data = len(config.fitness.data)
        for where in ("fitness_fingerprints", "fitness_draws"):
            if getattr(state, where) is not None:
                check_size(where, getattr(state, where), n_data, "config.fitness.data")
    n = len(state.history)
    check("generations_done", state.generations_done == n,
          f"is {state.generations_done}, but history holds {n} generations")
    check("history", n <= config.generations,
          f"holds {n} generations, more than config.generations = {config.generations}")
    for g, gen in enumerate(state.history):
        check(f"history.{g}.generation", gen.generation == g, f"is {gen.generation}, expected {g}")
        check_size(f"history.{g}.mean_vector", gen.mean_vector, dim, dims)
        check_size(f"history.{g}.fitness", gen.fitness, config.popsize, "config.popsize")
        for key in ("score", "steps"):
            if getattr(gen, key) is not None:
                check_size(f"history.{g}.{key}", getattr(gen, key), config.popsize,
                           "config.popsize")
        if gen.draws is not None and isinstance(config.fitness, FitnessConfig):
            check_size(f"history.{g}.draws", gen.draws, config.fitness.fitness_seeds,
                       "config.fitness.fitness_seeds")
            check(f"history.{g}.draws", max(gen.draws) < len(config.fitness.data),
                  f"names a dataset beyond the {len(config.fitness.data)} of config.fitness.data")
    vectors = {"mean_vector": state.mean_vector}
    if state.best is not None:
        check("best.generation", state.best.generation < n,
              f"is {state.best.generation}, but history holds {n} generations")
        check("best.fitness", math.isfinite(state.best.fitness), "must be finite")
        check_size("best.vector", state.best.vector, dim, dims)
        vectors["best.vector"] = state.best.vector
    for where, vector in vectors.items():  # reports render these
        try:
            family.formula(np.array(vector, dtype=np.float64))
        except (ValueError, OverflowError) as exc:
            check(where, False, f"not a {config.family} loss ({exc})")
    return raw


def history_from_json(raw: dict, path: str | Path = STATE_FILE) -> list[Generation]:
    """The generations of a decoded state.json (``path`` names it in errors)."""
    from mirrorpo.schemas import SEARCH_HISTORY, validate

    history = raw.get("history") if isinstance(raw, dict) else None
    return [Generation(np.array(g.mean_vector, dtype=np.float64),
                       np.array(g.fitness, dtype=np.float64),
                       None if g.score is None else np.array(g.score, dtype=np.float64),
                       None if g.steps is None else np.array(g.steps, dtype=np.int64))
            for g in validate(SEARCH_HISTORY, history, path, field="history")]


def load_result(out_dir: str | Path) -> SearchResult:
    """The result recorded in a run directory (complete or not); errors as ``read_state``."""
    raw = read_state(out_dir)
    history = tuple(history_from_json(raw, Path(out_dir) / STATE_FILE))
    b = raw["best"]
    best = None if b is None else Best(decode_floats(b["vector"]), float(b["fitness"]),
                                       b["generation"])
    return SearchResult(best, decode_floats(raw["mean_vector"]), history,
                        tuple(gen.stats(g) for g, gen in enumerate(history)))


def _save(out: Path, config: SearchConfig, history: list[Generation], best: Best | None,
          mean: np.ndarray, fitted_on: Sequence[str] = (), draws: Sequence[Draw] = ()) -> None:
    """Write state.json (the record resume reads), then best.json and mean.json (with the
    fitness datasets' fingerprints as ``fitted_on``)."""
    state = state_to_json(config, history, best, mean, fitted_on, draws)
    write_text_atomic(out / STATE_FILE, json.dumps(state, indent=1, allow_nan=False) + "\n")
    family = get_family(config.family)

    def loss(vector: np.ndarray):
        member = family.loss(vector)
        return replace(member, fitted_on=tuple(fitted_on)) if fitted_on else member

    if best is not None:
        loss(best.vector).save(out / BEST_FILE)
    loss(mean).save(out / MEAN_FILE)


ARITHMETIC = ("skip_padding", "stack_losses")
"""TrainConfig fields that change only the rounding of training, set by no command-line option:
a resumed search keeps the values it was saved with (``recorded_arithmetic``)."""


def recorded_arithmetic(config: SearchConfig, saved: dict) -> SearchConfig:
    """``config`` with the ``ARITHMETIC`` fields of a saved search config (one saved before a
    field existed reads as the code before it), so that a search resumes with the arithmetic
    it began with; ``config`` itself when either fitness is not a FitnessConfig."""
    fitness = saved.get("fitness")
    if not (isinstance(config.fitness, FitnessConfig) and isinstance(fitness, dict)
            and FitnessConfig.describes(fitness)):
        return config
    recorded = FitnessConfig.from_json(fitness).train
    train = replace(config.fitness.train,
                    **{name: getattr(recorded, name) for name in ARITHMETIC})
    return replace(config, fitness=replace(config.fitness, train=train))


def _as_read(saved: dict) -> dict:
    """A saved config as this code reads it (fields it lacks at the values they stand for),
    for comparison with a given one; as saved when it does not read."""
    try:
        return json.loads(json.dumps(SearchConfig.from_json(saved).to_json()))
    except (ConfigError, TypeError, KeyError, ValueError):
        return saved


def _recorded_history(out: Path, config: SearchConfig, resume: bool,
                      fitted_on: Sequence[str] = ()) -> list[Generation]:
    """The generations already in ``out`` ([] for a new run); refuses a clash, and datasets
    whose contents differ from the recorded fingerprints."""
    if not (out / STATE_FILE).exists():
        return []
    if not resume:
        raise FileExistsError(f"{out}: already holds a search ({STATE_FILE}); resume it or "
                              f"choose another directory")
    raw = read_state(out)
    diff = first_difference(_as_read(raw["config"]), json.loads(json.dumps(config.to_json())))
    if diff:
        raise FileExistsError(f"{out}: holds a different search (its {STATE_FILE} differs in "
                              f"{diff}); pass the same config to resume it, or another "
                              "directory")
    recorded = raw.get("fitness_fingerprints")
    if recorded and fitted_on and list(fitted_on) != recorded:
        raise FileExistsError(f"{out}: its fitness datasets now hold other contents "
                              f"(fingerprints {', '.join(fitted_on)}; {STATE_FILE} recorded "
                              f"{', '.join(recorded)}); restore them, or start another search")
    history = history_from_json(raw, out / STATE_FILE)
    if any(gen.fitness.shape != (config.popsize,) for gen in history):
        raise ValueError(f"{out / STATE_FILE}: a recorded fitness array is not of size "
                         f"{config.popsize}")
    return history


def _evaluate(fitness_fn: FitnessFn, candidates: np.ndarray, generation: int,
              mean: np.ndarray) -> Generation:
    out = fitness_fn(candidates.copy(), generation)
    score = steps = None
    if isinstance(out, Halved):
        out, score, steps = out.fitness, np.asarray(out.score, np.float64), np.asarray(out.steps)
    fitness = np.asarray(out, dtype=np.float64)
    if fitness.shape != (candidates.shape[0],):
        raise ValueError(f"fitness_fn returned shape {fitness.shape}, "
                         f"expected ({candidates.shape[0]},)")
    return Generation(mean, fitness, score, steps)


def run_search(config: SearchConfig, out_dir: str | Path, fitness_fn: FitnessFn, *,
               resume: bool, progress: Callable[[int], None] | None = None,
               log: Callable[[str], None] | None = None,
               fitted_on: Sequence[str] = (), draws: Sequence[Draw] = ()) -> SearchResult:
    """Run (or, with ``resume``, continue) the search ``config`` in ``out_dir``.

    Without ``resume`` a directory that already holds a state.json is refused; with it, a
    state.json of another config is refused, and a directory without one starts afresh.
    Recorded generations are replayed (their fitness is not re-evaluated) and checked: the
    replayed mean of each must equal the recorded one bit for bit. An exception from
    ``fitness_fn`` propagates; every generation completed before it is on disk.
    ``progress(1)`` is called per generation, replayed ones included. ``fitted_on`` (the
    fitness datasets' fingerprints) is recorded in state.json and the loss files; a resume
    with other fingerprints than the recorded ones is refused. ``draws`` (the fitness
    datasets as ``Draw`` records) gives the fingerprints when ``fitted_on`` is not, and is
    recorded too: each dataset's environment, preset and seed, and in pool mode each
    generation's draw per fitness seed slot.
    """
    if draws and fitted_on and tuple(fitted_on) != tuple(d.fingerprint for d in draws):
        raise ValueError("run_search: fitted_on and draws name different fingerprints")
    fitted_on = tuple(fitted_on) or tuple(d.fingerprint for d in draws)
    out = Path(out_dir)
    recorded = _recorded_history(out, config, resume, fitted_on)
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
            gen = recorded[g]
        else:
            gen = _evaluate(fitness_fn, candidates, g, mean)
        fitness = gen.fitness
        strategy.tell(fitness)
        history.append(gen)
        best = update_best(best, candidates, fitness, g)
        if g + 1 >= len(recorded):  # new, or the last replayed (refreshes best/mean.json)
            _save(out, config, history, best, strategy.mean, fitted_on, draws)
        if log is not None and g >= len(recorded):
            s = gen.stats(g)
            log(f"generation {g + 1}/{config.generations}: best {s.best:.4g}, "
                f"mean {s.mean:.4g}, median {s.median:.4g}, failed {s.failed}; best so far "
                f"{math.nan if best is None else best.fitness:.4g}")
        if progress is not None:
            progress(1)
    return SearchResult(best, strategy.mean, tuple(history),
                        tuple(gen.stats(g) for g, gen in enumerate(history)))
