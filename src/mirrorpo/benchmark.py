"""The baseline benchmark: every loss on every preset, tuned on validation seeds, reported on
test seeds.

Protocol (docs/protocol.md). Per preset, phase 1 (validation) trains every loss at every value
of its main hyper-parameter (``LossSpec.sweep``) on validation training seeds and scores it on
validation episodes; the value with the best mean score is kept. Phase 2 (test) trains every
loss at its kept value on separate test seeds and scores it on separate episodes, with
snapshots along training (the training-length curve). Test member k and the reference are
scored on the same episodes (evaluation seed ``TEST_EVAL_SEED + k·episodes`` under protocol 2,
mirrorpo.protocol), so the reference contributes one "run" per test seed. Statistics follow
rliable (Agarwal et al., 2021): mean and IQM over runs with 95% stratified bootstrap CIs (runs
resampled within each preset).

Each finished (preset, phase) unit is saved at once, so an interrupted benchmark resumes where
it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.envs import DEFAULT_ENV, ENV_NAMES
from mirrorpo.fileio import read_json, strict_json, write_text_atomic
from mirrorpo.losses import LOSSES
from mirrorpo.losses.resolve import FILE_SPEC, loss_label, resolve_loss, resolve_losses
from mirrorpo.policies import PolicyStack, concat
from mirrorpo.protocol import PROTOCOL, PROTOCOLS
from mirrorpo.protocol import eval_seed as member_eval_seed
from mirrorpo.training.population import (
    LOG_KEYS,
    TrainConfig,
    TrainResult,
    require_device,
    train_population,
)

if TYPE_CHECKING:  # evaluation imports the simulators; annotations only need the name
    from mirrorpo.evaluation import Scorer

VAL_SEED_BASE = 1000
"""Validation members train with seeds 1000, 1001, ...; test members with 0, 1, ..."""
VAL_EVAL_SEED = 400_000
TEST_EVAL_SEED = 500_000
MAX_SEEDS = 1000
"""Test seeds stay below the validation seeds (1000+), validation seeds below fitness (2000+)."""
VAL_RESET_SPAN = TEST_EVAL_SEED - VAL_EVAL_SEED
"""Protocol 2: validation reset seeds [400000, 400000 + val_seeds·episodes) end below the
test ones ..."""
TEST_RESET_SPAN = 700_000 - TEST_EVAL_SEED
"""... and test reset seeds [500000, 500000 + seeds·episodes) below the fitness ones (700000,
``mirrorpo.discovery.fitness.FITNESS_EVAL_SEED``)."""
REFERENCE = "reference"
PYTHON_PREFIX = "python:"
"""How a config records a loss given as a Python callable (by label; it cannot be re-imported
from the record, so a resumed run needs the same callable again)."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark's numbers (saved with it; resume checks it)."""

    env: str = setting(DEFAULT_ENV, help="Suite environment (Gymnasium MuJoCo v5).",
                       choices=lambda: ENV_NAMES)
    presets: tuple[str, ...] = setting(("clean", "noisy-20", "mixed"),
                                       help="Comma-separated presets; each dataset is read "
                                            "from DATA_ROOT/ENV/PRESET.")
    losses: tuple[Any, ...] = setting(default_factory=lambda: tuple(sorted(LOSSES)),
                            help="Comma-separated losses [default: every registered loss]: a "
                                 "bare registered name is swept over its main hyper-parameter "
                                 "on validation seeds; NAME:key=value, a loss file or "
                                 "module:function is used as given.")
    seeds: int = setting(5, ge=2, le=MAX_SEEDS, help="Test training seeds per loss "
                                                     "(reported).")
    val_seeds: int = setting(2, ge=1, le=MAX_SEEDS, help="Validation training seeds per swept "
                                                         "value (used only to choose it).")
    episodes: int = setting(10, ge=2, help="Evaluation episodes per member.")
    train: TrainConfig = setting(default_factory=TrainConfig, cli=False,
                                 help="Optimiser settings (TrainConfig).")
    curve_points: int = setting(4, ge=1, le=12, help="Test-phase snapshots at steps/2^k, "
                                                     "k < N.")
    """Test-phase snapshots, at steps/2^k for k = curve_points−1 … 0."""
    protocol: int = setting(PROTOCOL, ge=min(PROTOCOLS), le=max(PROTOCOLS), cli=False,
                            help="Seed layout of the evaluation episodes (mirrorpo.protocol); "
                                 "a config saved without it is protocol 1.")

    def __post_init__(self):
        check(self)
        if self.protocol >= 2:
            for name, n, span in (("val_seeds", self.val_seeds, VAL_RESET_SPAN),
                                  ("seeds", self.seeds, TEST_RESET_SPAN)):
                if n * self.episodes > span:
                    raise ConfigError(f"BenchConfig.{name}: {name} × episodes must be ≤ "
                                      f"{span} (the phase's reset seeds would reach the next "
                                      f"phase's), got {n} × {self.episodes}")
        if not self.presets:
            raise ConfigError("BenchConfig.presets: give at least one preset")
        if not self.losses:
            raise ConfigError("BenchConfig.losses: give at least one loss")
        if len(set(self.presets)) != len(self.presets):
            raise ConfigError(f"BenchConfig.presets: a preset is given twice ({self.presets})")
        keys = self.loss_keys
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ConfigError(f"BenchConfig.losses: {twice[0]!r} given twice")
        # files are read when the run starts (check_losses), so a saved run opens without them
        resolve_losses([x for x in self.losses if not (isinstance(x, str) and (
            x.startswith(PYTHON_PREFIX) or FILE_SPEC.match(x)))])

    @property
    def loss_keys(self) -> tuple[str, ...]:
        """Each loss as the config records it (a spec string, or ``python:LABEL``)."""
        return tuple(x if isinstance(x, str) else resolve_loss(x).record for x in self.losses)

    def to_json(self) -> dict:
        """The config as JSON; ``protocol`` left out when 1, as configs saved before it."""
        raw = {**asdict(self), "presets": list(self.presets), "losses": list(self.loss_keys),
               "train": self.train.to_json()}
        if self.protocol == 1:
            del raw["protocol"]
        return raw

    @classmethod
    def from_json(cls, raw: dict, path: str | Path = "config.json") -> BenchConfig:
        """The config saved as ``raw``, the JSON of ``path``: its keys and types checked
        (``mirrorpo.schemas.dataclass_model``), then the config's own checks; errors are
        one-line ValueErrors naming ``path`` and the field. A config without ``protocol``
        was saved before it existed: protocol 1."""
        from mirrorpo.schemas import dataclass_model, validate

        validate(dataclass_model(cls, overrides=(("losses", list[str]),)), raw, path)
        values = {**raw, **{k: tuple(raw[k]) for k in ("presets", "losses") if k in raw}}
        values.setdefault("protocol", 1)
        try:
            if "train" in raw:
                values["train"] = TrainConfig.from_json(raw["train"])
            return cls(**values)
        except (ValueError, FileNotFoundError) as exc:  # the latter: a loss file it names
            raise ValueError(f"{path}: {exc}") from None

    @property
    def curve_steps(self) -> tuple[int, ...]:
        steps = {max(1, self.train.steps >> k) for k in range(self.curve_points)}
        return tuple(sorted(steps))

    def eval_seeds(self, base: int, first: int) -> Callable[[int], int]:
        """Training seed → evaluation seed of a phase with evaluation base ``base`` whose
        training seeds start at ``first`` (mirrorpo.protocol.eval_seed)."""
        return lambda seed: member_eval_seed(base, seed, first, self.episodes, self.protocol)


def loss_lookup(cfg: BenchConfig) -> dict[str, Callable]:
    """Key → loss function of the losses given as Python callables (specs resolve by text)."""
    return {key: resolve_loss(x).fn for key, x in zip(cfg.loss_keys, cfg.losses, strict=True)
            if not isinstance(x, str)}


def sweep_specs(spec: str) -> list[str]:
    """The specs a benchmark tries for one loss: its sweep grid for a bare registered name."""
    if spec in LOSSES and LOSSES[spec].main_hparam:
        h = LOSSES[spec].main_hparam
        return [f"{spec}:{h}={v:g}" for v in LOSSES[spec].sweep]
    return [spec]


@dataclass
class Member:
    """One trained member's outcome."""

    loss: str
    """The loss as given to the benchmark (the row it belongs to)."""
    spec: str
    """The exact spec trained (with the hyper-parameter value)."""
    seed: int
    failed: bool
    fail_reason: str | None
    score: float
    """Normalised return, sampled actions (−inf if failed)."""
    score_mean_action: float
    curve: dict[int, float]
    """Training step → score (test phase snapshots)."""
    logs: dict[str, list[float]]
    """The TrainLog curves (mirrorpo.training.population.LOG_KEYS) over ``log_steps``."""
    log_steps: list[int]


def train_and_score(arrays: dict[str, np.ndarray], reference: PolicyStack, specs: list[str],
                    labels: list[str], seeds: list[int], cfg: TrainConfig,
                    eval_seed: int | Callable[[int], int], scorer: Scorer,
                    progress: Callable[[int], None] | None = None,
                    lookup: dict[str, Callable] | None = None,
                    ) -> tuple[list[Member], np.ndarray]:
    """Train one member per (spec, seed) and score it (and its snapshots) on the episodes of
    evaluation seed ``eval_seed(seed)`` (``BenchConfig.eval_seeds``; an int E stands for
    E + seed, protocol 1). Also returns the reference's (sampled, mean-action) scores at each
    distinct seed, (S, 2)."""
    seed_of = eval_seed if callable(eval_seed) else (lambda s, e=eval_seed: e + s)
    fns = {s: (lookup or {}).get(s) or resolve_loss(s).fn for s in dict.fromkeys(specs)}
    res: TrainResult = train_population(reference, arrays, [fns[s] for s in specs], seeds, cfg,
                                        progress=progress)
    final = res.policy.to_stack()
    snaps = sorted(res.snapshots)
    uniq = sorted(set(seeds))
    score = np.full(len(specs), -np.inf)
    score_ma = np.full(len(specs), -np.inf)
    curve = np.full((len(specs), len(snaps)), -np.inf)
    ref_scores = np.zeros((len(uniq), 2))  # sampled, mean action
    for j, s in enumerate(uniq):
        idx = [i for i, si in enumerate(seeds) if si == s]
        parts = [final.select(idx)] + [res.snapshots[t].select(idx) for t in snaps] + [reference]
        sampled, mean_act = scorer(concat(parts), seed_of(s))
        n = len(idx)
        score[idx], score_ma[idx] = sampled[:n], mean_act[:n]
        for k in range(len(snaps)):
            curve[idx, k] = sampled[n * (k + 1): n * (k + 2)]
        ref_scores[j] = sampled[-1], mean_act[-1]
    members = []
    for i, (spec, label, seed) in enumerate(zip(specs, labels, seeds, strict=True)):
        bad = bool(res.failed[i])
        members.append(Member(
            loss=label, spec=spec, seed=seed, failed=bad, fail_reason=res.fail_reason[i],
            score=float("-inf") if bad else float(score[i]),
            score_mean_action=float("-inf") if bad else float(score_ma[i]),
            curve={} if bad else {t: float(curve[i, k]) for k, t in enumerate(snaps)},
            logs={k: [float(row[i]) for row in getattr(res.log, k)] for k in LOG_KEYS},
            log_steps=list(res.log.steps)))
    return members, ref_scores


def pick_best(members: list[Member]) -> dict[str, str]:
    """Loss → the spec with the highest mean validation score (failures count as −inf)."""
    by: dict[str, dict[str, list[float]]] = {}
    for m in members:
        by.setdefault(m.loss, {}).setdefault(m.spec, []).append(m.score)
    return {loss: max(specs, key=lambda s: np.mean(specs[s])) for loss, specs in by.items()}


def validation_unit(cfg: BenchConfig, arrays, reference, scorer, progress=None) -> dict:
    specs, labels = [], []
    for loss in cfg.loss_keys:
        for s in sweep_specs(loss):
            specs += [s] * cfg.val_seeds
            labels += [loss] * cfg.val_seeds
    seeds = [VAL_SEED_BASE + k for k in range(cfg.val_seeds)] * (len(specs) // cfg.val_seeds)
    members, _ = train_and_score(arrays, reference, specs, labels, seeds, cfg.train,
                                 cfg.eval_seeds(VAL_EVAL_SEED, VAL_SEED_BASE), scorer,
                                 progress, loss_lookup(cfg))
    return {"members": [asdict(m) for m in members], "chosen": pick_best(members)}


def discovered_renames(run_root: Path, by_content: dict[bytes, str]) -> dict[str, str]:
    """File name of each loss copy in ``run_root/losses`` → this run's key for the same bytes
    (``by_content``: file bytes → key); copies with no match are left out."""
    copies = sorted((Path(run_root) / "losses").glob("*.json"))
    found = {c.name: by_content.get(c.read_bytes()) for c in copies}
    return {name: key for name, key in found.items() if key is not None}


def rekey_discovered(unit: dict | None, renames: dict[str, str]) -> dict | None:
    """``unit`` with each discovered loss's members renamed by ``renames`` (copy file name →
    key, from ``discovered_renames``).

    A meta-test keys a discovered loss by its copy, ``OUT/losses/NAME.json``, so without this
    a --reuse run with another OUT would retrain members it already holds."""
    if unit is None:
        return None

    def renamed(m: dict) -> dict:
        key = renames.get(Path(m["loss"]).name) if m["loss"].endswith(".json") else None
        return {**m, "loss": key, "spec": key} if key else m

    return {**unit, "members": [renamed(m) for m in unit["members"]]}


def merge_units(units: list[dict | None]) -> dict | None:
    """One test unit holding every member and reference score of ``units`` (None skipped).

    Members are keyed by (loss, spec, seed) and reference scores by seed; the first unit that
    has one wins. All units must come from runs with the same training and evaluation
    settings (``same_protocol``)."""
    units = [u for u in units if u is not None]
    if not units:
        return None
    members: dict[tuple, dict] = {}
    reference: dict[int, tuple[float, float]] = {}
    for unit in units:
        for m in unit["members"]:
            members.setdefault((m["loss"], m["spec"], m["seed"]), m)
        ma = unit.get("reference_mean_action") or [float("nan")] * len(unit["reference"])
        for seed, row in enumerate(zip(unit["reference"], ma, strict=True)):
            reference.setdefault(seed, row)
    n = 0
    while n in reference:
        n += 1
    return {"members": list(members.values()),
            "reference": [reference[s][0] for s in range(n)],
            "reference_mean_action": [reference[s][1] for s in range(n)]}


def same_protocol(a: BenchConfig, b: BenchConfig) -> bool:
    """Whether runs ``a`` and ``b`` train and score a member identically (so one may reuse the
    other's test members): same env, training settings, episodes, curve points and protocol
    (seed layout)."""
    return (a.env, a.train, a.episodes, a.curve_points, a.protocol) == \
        (b.env, b.train, b.episodes, b.curve_points, b.protocol)


def test_unit(cfg: BenchConfig, chosen: dict[str, str], arrays, reference, scorer,
              progress=None, reuse: dict | None = None) -> dict:
    """Every loss at its chosen spec on test seeds 0..seeds−1, with snapshots.

    ``reuse`` is an earlier test unit made with the same training and evaluation settings: its
    members of the same (loss, spec, seed) are taken over, not retrained. A member's result
    does not depend on the other members of its population (its minibatches, parameters and
    episodes are its own), so this changes the cost, not the numbers.
    """
    wanted = [(loss, chosen[loss], seed) for loss in cfg.loss_keys for seed in range(cfg.seeds)]
    old = {(m["loss"], m["spec"], m["seed"]): m for m in (reuse or {}).get("members", [])}
    todo = [w for w in wanted if w not in old]
    new: dict[tuple, dict] = {}
    ref_by_seed: dict[int, tuple[float, float]] = {}
    if reuse is not None:
        ref_ma = reuse.get("reference_mean_action") or [float("nan")] * len(reuse["reference"])
        ref_by_seed = dict(enumerate(zip(reuse["reference"], ref_ma, strict=True)))
    if todo:
        train = replace(cfg.train, snapshot_steps=cfg.curve_steps)
        labels, specs, seeds = (list(x) for x in zip(*todo, strict=True))
        members, ref = train_and_score(arrays, reference, specs, labels, seeds, train,
                                       cfg.eval_seeds(TEST_EVAL_SEED, 0), scorer, progress,
                                       loss_lookup(cfg))
        new = {(m.loss, m.spec, m.seed): asdict(m) for m in members}
        for s, row in zip(sorted(set(seeds)), ref, strict=True):
            ref_by_seed[s] = (float(row[0]), float(row[1]))
    if any(s not in ref_by_seed for s in range(cfg.seeds)):
        raise ValueError("the reused unit lacks the reference score of a test seed")
    return {"members": [new.get(w) or old[w] for w in wanted],
            "reference": [ref_by_seed[s][0] for s in range(cfg.seeds)],
            "reference_mean_action": [ref_by_seed[s][1] for s in range(cfg.seeds)]}


# ----------------------------------------------------------------------------- run directory


class BenchRun:
    """A benchmark run directory: config.json plus one JSON file per finished unit."""

    def __init__(self, root: Path, cfg: BenchConfig):
        self.root, self.cfg = Path(root), cfg

    @classmethod
    def create(cls, root: Path, cfg: BenchConfig, force: bool = False) -> BenchRun:
        """A new run in ``root``, or the same run resumed; a different one is refused."""
        from mirrorpo.outputs import check_output_dir, refuse_other_config

        cfg_path = Path(root) / "config.json"
        check_output_dir(root, "config.json", "benchmark run", resume=True)
        if not force:
            refuse_other_config(cfg_path, cfg.to_json(), "benchmark",
                                "pass the same options to resume it, `force` to start over")
        if force:
            import shutil

            shutil.rmtree(Path(root) / "units", ignore_errors=True)
        (Path(root) / "units").mkdir(parents=True, exist_ok=True)
        write_text_atomic(cfg_path, json.dumps(cfg.to_json(), indent=2))
        return cls(root, cfg)

    @classmethod
    def open(cls, root: Path) -> BenchRun:
        """An existing run, read only."""
        path = Path(root) / "config.json"
        return cls(root, BenchConfig.from_json(read_json(path, "bench run"), path))

    def unit_path(self, preset: str, phase: str) -> Path:
        return self.root / "units" / f"{preset.replace('/', '_')}.{phase}.json"

    def load(self, preset: str, phase: str) -> dict | None:
        """The saved unit of (preset, phase), None if not finished. Checked: its structure and
        types (``mirrorpo.schemas.BenchUnit``), that a validation unit chose a spec for every
        loss of the config and a test unit has members of each, and that its members' curves
        line up; errors are one-line ValueErrors naming the file and the field."""
        from mirrorpo.schemas import BenchUnit, validate

        p = self.unit_path(preset, phase)
        if not p.exists():
            return None
        raw = read_json(p, "bench unit")
        unit = validate(BenchUnit, raw, p)

        def check(where: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"{p}: {where}: {what}")

        losses = self.cfg.loss_keys
        if phase == "validation":
            check("chosen", unit.chosen is not None, "missing (the spec chosen per loss)")
            lacking = [loss for loss in losses if loss not in unit.chosen]
            check("chosen", not lacking, f"lacks loss {', '.join(lacking)} of the config")
        if phase == "test":
            check("reference", unit.reference is not None, "missing (the reference's scores)")
            ma = unit.reference_mean_action
            check("reference_mean_action", ma is None or len(ma) == len(unit.reference),
                  f"has {len(ma or [])} values, expected {len(unit.reference)} (as reference)")
            have = {m.loss for m in unit.members}
            lacking = [loss for loss in losses if loss not in have]
            check("members", not lacking, f"none of loss {', '.join(lacking)} of the config")
        first = unit.members[0] if unit.members else None
        scored = [m for m in unit.members if not m.failed]
        for i, m in enumerate(unit.members):
            for k in ("chosen_logratios", "rejected_logratios", "reward_margin"):
                check(f"members.{i}.logs", k in m.logs, f"lacks {k}")
            for k, values in m.logs.items():
                check(f"members.{i}.logs.{k}", len(values) == len(m.log_steps),
                      f"has {len(values)} values, expected {len(m.log_steps)} (as log_steps)")
            check(f"members.{i}.log_steps", m.log_steps == first.log_steps,
                  "differ from those of members.0")
            if not m.failed:
                check(f"members.{i}.curve", m.curve.keys() == scored[0].curve.keys(),
                      "has other steps than the first member that did not fail")
        return raw

    def save(self, preset: str, phase: str, unit: dict) -> None:
        """Write a unit as strict JSON: non-finite numbers as null, each member with its
        ``status`` ("ok" or "failed")."""
        unit = {**unit, "members": [{**m, "status": "failed" if m["failed"] else "ok"}
                                    for m in unit["members"]]}
        write_text_atomic(self.unit_path(preset, phase),
                          json.dumps(strict_json(unit), indent=1, allow_nan=False))


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class RowStats:
    """Aggregate of one table row: scores over runs (and presets)."""

    mean: float
    mean_ci: tuple[float, float]
    iqm: float
    iqm_ci: tuple[float, float]
    mean_action: float
    runs: int
    failed: int


def row_stats(scores: np.ndarray, scores_mean_action: np.ndarray, reps: int = 2000,
              seed: int = 0) -> RowStats:
    """scores (runs, presets) → mean and IQM with 95% stratified bootstrap CIs (rliable).

    A failed run (−inf) scores 0 — as bad as the random policy — in the aggregates.
    """
    from rliable import library as rly
    from rliable import metrics

    failed = int((~np.isfinite(scores)).sum())
    x = np.where(np.isfinite(scores), scores, 0.0)

    def agg(s: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_mean(s), metrics.aggregate_iqm(s)])

    np.random.seed(seed)  # rliable's bootstrap draws from numpy's global RNG
    point, ci = rly.get_interval_estimates({"row": x}, agg, reps=reps)
    (m, q), ((ml, ql), (mh, qh)) = point["row"], ci["row"]
    if np.isnan(scores_mean_action).all():
        mean_action = float("nan")  # not measured
    else:
        mean_action = float(np.where(np.isfinite(scores_mean_action), scores_mean_action,
                                     0.0).mean())
    return RowStats(float(m), (float(ml), float(mh)), float(q), (float(ql), float(qh)),
                    mean_action, int(x.shape[0]), failed)


def table_rows(units: dict[str, dict], losses: tuple[str, ...]) -> dict[str, dict]:
    """Per preset, row name → (RowStats, chosen spec); units maps preset → its test unit."""
    out: dict[str, dict] = {}
    for preset, unit in units.items():
        rows = {}
        ref = np.asarray(unit["reference"], dtype=float)[:, None]
        ref_ma = np.asarray(unit.get("reference_mean_action", [np.nan] * len(ref)),
                            dtype=float)[:, None]
        rows[REFERENCE] = (row_stats(ref, ref_ma), "π_ref")
        for loss in losses:
            ms = [m for m in unit["members"] if m["loss"] == loss]
            s = np.array([_score(m["score"]) for m in ms])[:, None]
            sm = np.array([_score(m["score_mean_action"]) for m in ms])[:, None]
            rows[display_name(loss)] = (row_stats(s, sm), display_name(ms[0]["spec"]))
        out[preset] = rows
    return out


def unit_curves(unit: dict, losses: tuple[str, ...]) -> tuple[dict, dict]:
    """Per loss (display name), from a test unit: (steps, scores (runs, steps)) along training,
    and the log-ratio/margin curves {key: (runs, n_logs)}; failed members are left out."""
    curves, logs = {}, {}
    for loss in losses:
        ms = [m for m in unit["members"] if m["loss"] == loss and not m["failed"]]
        if not ms:
            continue
        steps = sorted(int(k) for k in ms[0]["curve"])  # keys are str once read from JSON
        scores = np.array([[m["curve"].get(t, m["curve"].get(str(t))) for t in steps]
                           for m in ms])
        curves[display_name(loss)] = (steps, scores)
        logs[display_name(loss)] = {k: np.array([m["logs"][k] for m in ms])
                                    for k in ("chosen_logratios", "rejected_logratios",
                                              "reward_margin")}
    return curves, logs


def display_name(spec: str) -> str:
    """A loss key as shown in tables: its label (mirrorpo.losses.resolve.loss_label); a
    Python callable recorded as ``python:LABEL`` shows as LABEL."""
    if spec.startswith(PYTHON_PREFIX):
        return spec[len(PYTHON_PREFIX):]
    return loss_label(spec) if FILE_SPEC.match(spec) else spec


def _score(x) -> float:
    return float("-inf") if x is None else float(x)


# ----------------------------------------------------------------------------- tables


def _fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def summary_records(tables: dict[str, dict]) -> list[dict]:
    """Flat rows (preset, row, spec, statistics) for CSV and Markdown."""
    out = []
    for preset, rows in tables.items():
        for name, (st, spec) in rows.items():
            out.append({"preset": preset, "loss": name, "spec": spec, "runs": st.runs,
                        "failed": st.failed, "mean": st.mean, "mean_ci_low": st.mean_ci[0],
                        "mean_ci_high": st.mean_ci[1], "iqm": st.iqm, "iqm_ci_low": st.iqm_ci[0],
                        "iqm_ci_high": st.iqm_ci[1], "mean_action": st.mean_action})
    return out


def markdown_summary(tables: dict[str, dict]) -> str:
    """One Markdown table per preset; the best mean per preset in bold."""
    parts = []
    for preset, rows in tables.items():
        best = max((st.mean for n, (st, _) in rows.items() if n != REFERENCE), default=None)
        lines = [f"### {preset}", "",
                 "| loss | setting | mean [95% CI] | IQM [95% CI] | mean-action | runs |",
                 "|---|---|---|---|---|---|"]
        for name, (st, spec) in rows.items():
            mean = f"{st.mean:.1f} {_fmt_ci(st.mean_ci)}"
            if st.mean == best:
                mean = f"**{mean}**"
            ma = "—" if not np.isfinite(st.mean_action) else f"{st.mean_action:.1f}"
            runs = f"{st.runs}" + (f" ({st.failed} failed)" if st.failed else "")
            lines.append(f"| {name} | {spec} | {mean} | {st.iqm:.1f} {_fmt_ci(st.iqm_ci)} | "
                         f"{ma} | {runs} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- meta-test


def meta_test_verdicts(tables: dict[str, dict], discovered: list[str]) -> list[dict]:
    """Per preset and discovered loss: its row against the best tuned baseline's.

    The best baseline is the one with the highest *test* mean: a choice that favours the
    baselines, so a win is conservative. A win needs the 95% CIs of the means not to overlap.
    """
    out = []
    for preset, rows in tables.items():
        base = {n: r for n, r in rows.items() if n != REFERENCE and n not in discovered}
        best_name = max(base, key=lambda n: base[n][0].mean)
        b = base[best_name][0]
        for name in discovered:
            st = rows[name][0]
            if st.mean_ci[0] > b.mean_ci[1]:
                verdict = "win"
            elif st.mean_ci[1] < b.mean_ci[0]:
                verdict = "loss"
            else:
                verdict = "tie (CIs overlap)"
            out.append({"preset": preset, "loss": name, "mean": st.mean, "ci": st.mean_ci,
                        "baseline": best_name, "baseline_spec": base[best_name][1],
                        "baseline_mean": b.mean, "baseline_ci": b.mean_ci,
                        "reference_mean": rows[REFERENCE][0].mean, "verdict": verdict})
    return out


def markdown_verdicts(verdicts: list[dict]) -> str:
    lines = ["| preset | discovered loss | mean [95% CI] | best tuned baseline | "
             "its mean [95% CI] | reference | verdict |", "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v['preset']} | {v['loss']} | {v['mean']:.1f} {_fmt_ci(v['ci'])} | "
                     f"{v['baseline_spec']} | {v['baseline_mean']:.1f} "
                     f"{_fmt_ci(v['baseline_ci'])} | {v['reference_mean']:.1f} | "
                     f"{v['verdict']} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the job


def dataset_dir(data_root: Path, env: str, preset: str) -> Path:
    """Where a benchmark reads a preset's dataset: DATA_ROOT/ENV/PRESET."""
    return Path(data_root) / env / preset


def check_losses(cfg: BenchConfig) -> None:
    """Every loss of ``cfg`` resolves (files read), no two with one label (checked up front)."""
    resolve_losses([x for x in cfg.losses if not (isinstance(x, str) and
                                                  x.startswith(PYTHON_PREFIX))])


def check_datasets(cfg: BenchConfig, data_root: Path, presets: tuple[str, ...]) -> dict:
    """Preset → its dataset directory, each present and of ``cfg.env`` (checked up front)."""
    from mirrorpo.data.dataset import read_card

    out = {}
    for preset in presets:
        d = dataset_dir(data_root, cfg.env, preset)
        if not (d / "pairs.npz").exists():
            raise FileNotFoundError(f"{d}: no dataset (make it with `mirrorpo data make --env "
                                    f"{cfg.env} --preset {preset} --out {d}`)")
        card = read_card(d)
        if card["env"] != cfg.env:
            raise ValueError(f"{d}: a {card['env']} dataset, not {cfg.env}")
        out[preset] = d
    return out


def run_bench(cfg: BenchConfig, out: str | Path, *, data_root: str | Path = "runs/suite",
              force: bool = False, progress=None, nthread: int | None = None) -> dict:
    """Every loss on every preset: sweep on validation seeds, report on test seeds.

    Resumes an interrupted run in ``out`` (same config), or starts over with ``force``.
    Writes the units, summary.md/.csv, members.csv and plots/; returns the tables
    (preset → row name → (RowStats, chosen spec)).
    """
    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer
    from mirrorpo.progress import no_progress

    progress = progress or no_progress
    require_device(cfg.train.device)
    check_losses(cfg)
    datasets = check_datasets(cfg, Path(data_root), cfg.presets)
    run = BenchRun.create(Path(out), cfg, force=force)
    reference = load_reference(cfg.env)
    scorer = NormalisedScorer.for_env(cfg.env, cfg.episodes, nthread=nthread,
                                      device=cfg.train.device)
    for preset in cfg.presets:
        ds = load_dataset(datasets[preset])
        arrays, drawn = ds.arrays, {"fingerprint": ds.fingerprint}  # units record their draw
        val = run.load(preset, "validation")
        if val is None:
            n = sum(len(sweep_specs(s)) for s in cfg.loss_keys) * cfg.val_seeds
            with progress(f"{preset}: validation, {n} members", cfg.train.steps) as adv:
                val = {**validation_unit(cfg, arrays, reference, scorer, adv), **drawn}
            run.save(preset, "validation", val)
        if run.load(preset, "test") is None:
            n = len(cfg.losses) * cfg.seeds
            with progress(f"{preset}: test, {n} members", cfg.train.steps) as adv:
                run.save(preset, "test", {**test_unit(cfg, val["chosen"], arrays, reference,
                                                      scorer, adv), **drawn})
    return render_bench(run)


def render_bench(run: BenchRun) -> dict:
    """summary.md/.csv, members.csv and plots/ from a run's saved units; returns the tables."""
    from mirrorpo import plots
    from mirrorpo.fileio import write_csv_atomic

    cfg = run.cfg
    units = {p: run.load(p, "test") for p in cfg.presets}
    units = {p: u for p, u in units.items() if u is not None}
    tables = table_rows(units, cfg.loss_keys)
    write_text_atomic(run.root / "summary.md", markdown_summary(tables))
    write_csv_atomic(run.root / "summary.csv", summary_records(tables))
    members = []
    for phase in ("validation", "test"):
        for p in cfg.presets:
            for m in (run.load(p, phase) or {"members": []})["members"]:
                members.append({"phase": phase, "preset": p, "loss": m["loss"],
                                "spec": m["spec"], "seed": m["seed"], "failed": m["failed"],
                                "score": m["score"],
                                "score_mean_action": m["score_mean_action"]})
    write_csv_atomic(run.root / "members.csv", members)
    (run.root / "plots").mkdir(exist_ok=True)
    for preset, unit in units.items():
        slug = preset.replace("/", "_")
        plots.score_bars(tables[preset], f"{cfg.env} {preset}: test seeds",
                         run.root / "plots" / f"bars_{slug}.png")
        curves, logs = unit_curves(unit, cfg.loss_keys)
        ref = tables[preset][REFERENCE][0].mean
        plots.training_curves(curves, ref, f"{cfg.env} {preset}: score along training",
                              run.root / "plots" / f"curves_{slug}.png")
        plots.logp_curves(logs, unit["members"][0]["log_steps"],
                          f"{cfg.env} {preset}: log-ratios to the reference (mean over seeds)",
                          run.root / "plots" / f"logps_{slug}.png")
    return tables
