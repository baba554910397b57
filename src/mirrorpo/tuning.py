"""Tuning baselines with a budget that can stand beside a search's.

A discovered loss is the best of thousands of training runs; a baseline tuned over three
values of one hyper-parameter had six. Before a discovered loss is compared with a baseline,
the baseline is tuned on the same meta-train draws, on validation seeds, over

* its main hyper-parameter on a log grid (``grid_points`` values spanning ``decades`` decades
  around the registered default; a bounded one such as a label-smoothing ε on a linear grid
  inside its range), extended while the best value sits on an edge of an unbounded grid;
* its other tuned axes (ε of cDPO and rDPO, on the linear grid, crossed with β);
* the learning rate (``learning_rates``);
* the training length: every member is scored after each of ``snapshot_steps``, which costs
  evaluations, not training runs.

The choice is the (spec, learning rate, steps) with the highest mean validation score over
draws × seeds. Discovered loss files given as ``candidates`` get the same learning rates and
lengths on the same draws and seeds, with no other axis, so a confirmation can train every
side at the schedule validation chose for it (``ConfirmConfig.candidate_schedule``). Every
training run is counted, so a report can give both sides' budgets.
Results are saved per (loss, learning rate, draw) unit and an interrupted tuning resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.fileio import read_json, strict_json, write_text_atomic
from mirrorpo.losses import LOSSES
from mirrorpo.progress import Progress, no_progress
from mirrorpo.protocol import PROTOCOL, PROTOCOLS, eval_seed

EXTRA_AXES = {"cdpo": "beta", "rdpo": "beta"}
"""Losses whose main hyper-parameter is not β: β is tuned too, crossed with it."""
MAX_EXTENSIONS = 3
"""An edge optimum extends an unbounded grid by one more point at most this many times."""
TUNED_FILE = "tuned.json"


@dataclass(frozen=True)
class TuningConfig:
    """What is tuned, on which draws, over which grids."""

    losses: tuple[str, ...] = setting(help="Registered losses to tune (bare names).")
    data: tuple[str, ...] = setting(help="Meta-train draws (dataset directories) of the "
                                         "target preset; never the meta-test draws.")
    val_seeds: int = setting(2, ge=1, help="Validation training seeds per grid point and draw.")
    episodes: int = setting(10, ge=2, help="Validation episodes per member.")
    grid_points: int = setting(7, ge=3, help="Points of each hyper-parameter grid.")
    decades: float = setting(3.0, gt=0, help="Decades a log grid spans around the default.")
    learning_rates: tuple[float, ...] = setting((3e-4, 1e-3, 3e-3), help="Adam learning "
                                                                         "rates tried.")
    snapshot_steps: tuple[int, ...] = setting((250, 500, 1000, 2000), help="Training lengths "
                                                                           "scored (free).")
    batch_pairs: int = setting(8, ge=1, help="Pairs per minibatch per member.")
    candidates: tuple[str, ...] = setting((), help="Discovered loss files whose learning rate "
                                                   "and training length are chosen the same "
                                                   "way, on the same draws and seeds (no other "
                                                   "axis); tuned.json's \"candidates\".")
    protocol: int = setting(PROTOCOL, ge=min(PROTOCOLS), le=max(PROTOCOLS), cli=False,
                            help="Seed layout of the evaluation episodes (mirrorpo.protocol).")

    def __post_init__(self):
        check(self)
        for name in self.losses:
            if name not in LOSSES or LOSSES[name].main_hparam is None:
                raise ConfigError(f"TuningConfig.losses: {name!r} is not a registered loss "
                                  "with a main hyper-parameter")
        for path in self.candidates:
            if not (path.endswith(".json") and Path(path).is_file()):
                raise ConfigError(f"TuningConfig.candidates: {path!r} is not a loss file")
        if not self.data:
            raise ConfigError("TuningConfig.data: give at least one meta-train draw")
        if any(lr <= 0 for lr in self.learning_rates) or not self.learning_rates:
            raise ConfigError("TuningConfig.learning_rates: positive values, at least one")
        if sorted(set(self.snapshot_steps)) != list(self.snapshot_steps) or \
                min(self.snapshot_steps) < 1:
            raise ConfigError("TuningConfig.snapshot_steps: increasing positive step counts")


def log_grid(center: float, points: int, decades: float) -> list[float]:
    """``points`` values evenly spaced in log10 over ``decades`` decades centred on
    ``center``, rounded to 3 significant digits."""
    exps = np.linspace(-decades / 2, decades / 2, points)
    return [float(f"{center * 10 ** e:.3g}") for e in exps]


def bounded_grid(lo: float, hi: float, points: int) -> list[float]:
    """``points`` values evenly spaced strictly inside (lo, hi)."""
    return [float(f"{v:.3g}") for v in np.linspace(lo, hi, points + 2)[1:-1]]


def hparam_grid(loss: str, name: str, config: TuningConfig) -> list[float]:
    """The grid of hyper-parameter ``name`` of ``loss``: linear inside a bounded range, else
    logarithmic around the default."""
    spec = LOSSES[loss]
    rng = spec.ranges[name]
    hi = rng.lt if rng.lt is not None else rng.le
    if hi is not None:
        lo = rng.gt if rng.gt is not None else (rng.ge or 0.0)
        return bounded_grid(lo, hi, config.grid_points)
    return log_grid(spec.defaults[name], config.grid_points, config.decades)


def grid_specs(loss: str, grids: dict[str, list[float]]) -> list[str]:
    """Every spec of ``loss`` on the cross product of ``grids``."""
    specs = [""]
    for name, values in grids.items():
        specs = [f"{s},{name}={v:g}" if s else f"{name}={v:g}" for s in specs for v in values]
    return [f"{loss}:{s}" for s in specs]


def extend(grid: list[float], best: float) -> list[float] | None:
    """A log grid with one more point beyond ``best`` when it is on an edge, else None."""
    ratio = grid[1] / grid[0]
    if best == grid[0]:
        return [float(f"{grid[0] / ratio:.3g}"), *grid]
    if best == grid[-1]:
        return [*grid, float(f"{grid[-1] * ratio:.3g}")]
    return None


@dataclass(frozen=True)
class Choice:
    """A tuned baseline: the best (spec, learning rate, steps) and what finding it cost."""

    loss: str
    spec: str
    learning_rate: float
    steps: int
    score: float
    """Mean validation score over draws × seeds at the choice."""
    runs: int
    """Training runs spent on this loss (grid points × learning rates × seeds × draws)."""
    at_edge: bool
    """Whether the choice is still on an edge of its grid after the extensions."""


FINGERPRINTS = "draw_fingerprints"
"""config.json's record of each draw's content fingerprint (from 2026-12-02; older tunings
resume without it and gain it)."""


def _refuse_other_draws(cfg_path: Path, draws: tuple[str, ...], fingerprints: list[str]) -> None:
    """Refuse to resume a tuning whose draws now hold other contents: its units name a draw by
    its index, so they would mix scores of the old contents with the new (FileExistsError)."""
    if not cfg_path.exists():
        return
    saved = read_json(cfg_path, "tuning config").get(FINGERPRINTS)
    for path, was, now in zip(draws, saved or [], fingerprints, strict=False):
        if was != now:
            raise FileExistsError(f"{cfg_path}: its units were trained on other contents of "
                                  f"{path} (fingerprint {was}, now {now}); restore that draw, "
                                  "or tune into another directory")


def _unit_path(out: Path, loss: str, lr: float, draw: int, specs: list[str]) -> Path:
    """A unit's file: grids can grow, so a unit is named by a digest of its exact specs."""
    key = hashlib.sha256("\n".join(specs).encode()).hexdigest()[:12]
    return out / "units" / f"{loss}.lr{lr:g}.draw{draw}.{key}.json"


def score_table(members: list[dict], snapshot_steps: tuple[int, ...]) -> dict[tuple, float]:
    """(spec, steps) → mean score over the members' seeds (failed members score 0)."""
    acc: dict[tuple, list[float]] = {}
    for m in members:
        for t in snapshot_steps:
            v = m["curve"].get(str(t), m["curve"].get(t)) if not m["failed"] else None
            acc.setdefault((m["spec"], t), []).append(0.0 if v is None or not math.isfinite(v)
                                                      else float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _axes(loss: str) -> list[str]:
    """The hyper-parameters a loss is tuned over: its main one, and EXTRA_AXES's if any."""
    return [LOSSES[loss].main_hparam] + ([EXTRA_AXES[loss]] if loss in EXTRA_AXES else [])


def tune(config: TuningConfig, out: str | Path, *, progress: Progress = no_progress,
         nthread: int | None = None) -> dict[str, Choice]:
    """Tune every loss of ``config`` (see the module docstring); writes ``out/tuned.json``
    and returns loss → Choice. Resumes from the units already in ``out``."""
    from mirrorpo.assets import load_reference
    from mirrorpo.benchmark import VAL_EVAL_SEED, VAL_SEED_BASE, train_and_score
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer
    from mirrorpo.losses.resolve import resolve_loss
    from mirrorpo.outputs import check_output_dir, refuse_other_config
    from mirrorpo.training.population import TrainConfig

    out = Path(out)
    check_output_dir(out, "config.json", "tuning", resume=True)
    cfg_path = out / "config.json"
    raw = json.loads(json.dumps(asdict(config)))
    if not raw["candidates"]:  # tunings made before the field existed resume
        del raw["candidates"]
    refuse_other_config(cfg_path, raw, "tuning", ignore=(FINGERPRINTS,))
    sets = [load_dataset(d) for d in config.data]
    raw[FINGERPRINTS] = [ds.fingerprint for ds in sets]
    _refuse_other_draws(cfg_path, config.data, raw[FINGERPRINTS])
    (out / "units").mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg_path, json.dumps(raw, indent=1))
    envs = {ds.card["env"] for ds in sets}
    if len(envs) != 1:
        raise ConfigError(f"TuningConfig.data: draws of one environment only, got {envs}")
    env = envs.pop()
    reference = load_reference(env)
    scorer = NormalisedScorer.for_env(env, config.episodes, mean_action=False, nthread=nthread)
    seeds = [VAL_SEED_BASE + k for k in range(config.val_seeds)]

    def val_eval_seed(seed: int) -> int:  # the bench's validation episodes, seed by seed
        return eval_seed(VAL_EVAL_SEED, seed, VAL_SEED_BASE, config.episodes, config.protocol)
    steps = max(config.snapshot_steps)
    spec_runs = len(config.learning_rates) * len(sets) * config.val_seeds  # runs of one spec
    grids_of = {loss: {n: hparam_grid(loss, n, config) for n in _axes(loss)}
                for loss in config.losses}
    # training runs, for the progress bars: every loss's first grid and every candidate are
    # planned; a grid extended at an edge adds its new points when they start
    tally = {"done": 0, "planned": spec_runs * (
        sum(len(grid_specs(loss, g)) for loss, g in grids_of.items()) + len(config.candidates))}

    def run_grid(loss: str, specs: list[str]) -> dict[tuple, float]:
        """(spec, lr, steps) → mean validation score over draws × seeds."""
        table: dict[tuple, list[float]] = {}
        for lr in config.learning_rates:
            for d, ds in enumerate(sets):
                path = _unit_path(out, loss, lr, d, specs)
                if path.exists():
                    members = read_json(path, "tuning unit")["members"]
                else:
                    train = TrainConfig(steps=steps, batch_pairs=config.batch_pairs,
                                        learning_rate=lr,
                                        snapshot_steps=tuple(config.snapshot_steps))
                    all_specs = [s for s in specs for _ in seeds]
                    with progress(f"tune runs {tally['done']}/{tally['planned']}: {loss} "
                                  f"lr={lr:g} draw {d}, {len(all_specs)} member"
                                  f"{'s' * (len(all_specs) != 1)}", steps) as adv:
                        ms, _ = train_and_score(ds.arrays, reference, all_specs,
                                                [loss] * len(all_specs), seeds * len(specs),
                                                train, val_eval_seed, scorer, adv)
                    members = [{"spec": m.spec, "seed": m.seed, "failed": m.failed,
                                "curve": {str(t): v for t, v in m.curve.items()}}
                               for m in ms]
                    write_text_atomic(path, json.dumps(strict_json({"members": members}),
                                                         allow_nan=False))
                tally["done"] += len(members)
                for (spec, t), v in score_table(members, config.snapshot_steps).items():
                    table.setdefault((spec, lr, t), []).append(v)
        return {k: float(np.mean(v)) for k, v in table.items()}

    choices: dict[str, Choice] = {}
    for loss in config.losses:
        names = _axes(loss)
        grids = grids_of[loss]
        scores: dict[tuple, float] = {}
        tried: set[str] = set()
        for extension in range(MAX_EXTENSIONS + 1):
            specs = [s for s in grid_specs(loss, grids) if s not in tried]
            if specs:
                if extension:
                    tally["planned"] += spec_runs * len(specs)
                scores |= run_grid(loss, specs)
                tried |= set(specs)
            best = max(scores, key=scores.get)
            values = dict(kv.split("=") for kv in best[0].split(":", 1)[1].split(","))
            grown = False
            for n in names:
                rng = LOSSES[loss].ranges[n]
                if rng.lt is None and rng.le is None:  # unbounded above: a log grid
                    new = extend(grids[n], float(values[n]))
                    if new is not None:
                        grids[n], grown = new, True
            if not grown:
                break
        spec, lr, t = best
        at_edge = any(extend(grids[n], float(values[n])) is not None for n in names
                      if LOSSES[loss].ranges[n].lt is None and LOSSES[loss].ranges[n].le is None)
        runs = len(tried) * len(config.learning_rates) * config.val_seeds * len(sets)
        choices[loss] = Choice(loss, spec, lr, t, scores[best], runs, at_edge)
    schedules = {}
    for path in config.candidates:  # a discovered loss: its schedule only
        label = resolve_loss(path).label
        scores = run_grid(f"candidate-{label.replace(':', '-')}", [path])
        best = max(scores, key=scores.get)
        runs = len(config.learning_rates) * config.val_seeds * len(sets)
        schedules[label] = Choice(label, path, best[1], best[2], scores[best], runs, False)
    record = {"choices": {k: asdict(c) for k, c in choices.items()},
              "runs": sum(c.runs for c in choices.values())}
    if schedules:
        record |= {"candidates": {k: asdict(c) for k, c in schedules.items()},
                   "candidate_runs": sum(c.runs for c in schedules.values())}
    write_text_atomic(out / TUNED_FILE, json.dumps(record, indent=1))
    return choices | schedules


def search_runs(state: dict) -> int:
    """Training runs a search spent, from its state.json: candidates × fitness seeds × the
    datasets each member trained on (one in pool mode), over the generations done."""
    cfg = state["config"]
    fit = cfg.get("fitness", {})
    per_member = 1 if fit.get("pool") else max(1, len(fit.get("data", [])))
    return int(state["generations_done"] * cfg["popsize"] * fit.get("fitness_seeds", 1)
               * per_member)


def beta_controls(path: str | Path) -> dict[str, object]:
    """The "is it just β?" controls of a discovered MPO/TA-MPO loss file: DPO and the hinge
    (SLiC) loss at its β and reference weight r, as MPO losses (label → loss)."""
    from dataclasses import replace

    from mirrorpo.losses.mpo import MPOLoss, MPOParams, load_mpo

    found = load_mpo(path).params
    base = MPOParams(beta=found.beta, ref_switch=found.ref_switch)
    hinge = replace(base, lam_logsigmoid=0.0, lam_hinge=1.0)
    tag = f"β={found.beta:.3g},r={min(max(found.ref_switch, 0.0), 1.0):.3g}"
    return {f"dpo[{tag}]": MPOLoss("mpo", base), f"hinge[{tag}]": MPOLoss("mpo", hinge)}
