"""The baseline benchmark: every loss on every preset, tuned on validation seeds, reported on
test seeds.

Protocol (DESIGN.md §4). For each preset, phase 1 (validation) trains every loss at every value
of its main hyper-parameter (``LossSpec.sweep``) on validation training seeds and scores it on
validation episodes; the value with the best mean score is kept. Phase 2 (test) trains every
loss at its kept value on separate test seeds and scores it on separate episodes, with
snapshots along training (the training-length curve). Test member k and the reference are
scored on the same episodes (seed ``TEST_EVAL_SEED + k``), so the reference contributes one
"run" per test seed. Statistics follow rliable (Agarwal et al., 2021): mean and IQM over runs
with 95% stratified bootstrap CIs (runs resampled within each preset).

Each finished (preset, phase) unit is saved at once, so an interrupted benchmark resumes where
it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses import LOSSES
from mirrorpo.policies import PolicyStack, concat
from mirrorpo.train.members import parse_loss_spec
from mirrorpo.train.population import LOG_KEYS, TrainConfig, TrainResult, train_population

VAL_SEED_BASE = 1000
"""Validation members train with seeds 1000, 1001, ...; test members with 0, 1, ..."""
VAL_EVAL_SEED = 400_000
TEST_EVAL_SEED = 500_000
REFERENCE = "reference"


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark's numbers (saved with it; resume checks it)."""

    env: str
    presets: tuple[str, ...]
    losses: tuple[str, ...]
    """Loss specs: a bare registered name is swept over its main hyper-parameter; a spec with
    hyper-parameters (``dpo:beta=0.3``) or an MPO file is used as given."""
    seeds: int = 5
    val_seeds: int = 2
    episodes: int = 10
    train: TrainConfig = field(default_factory=TrainConfig)
    curve_points: int = 4
    """Test-phase snapshots, at steps/2^k for k = curve_points−1 … 0."""

    def to_json(self) -> dict:
        return {**asdict(self), "presets": list(self.presets), "losses": list(self.losses),
                "train": {**asdict(self.train),
                          "snapshot_steps": list(self.train.snapshot_steps)}}

    @classmethod
    def from_json(cls, raw: dict) -> BenchConfig:
        train = {k: tuple(v) if isinstance(v, list) else v for k, v in raw["train"].items()}
        return cls(**{**raw, "presets": tuple(raw["presets"]), "losses": tuple(raw["losses"]),
                      "train": TrainConfig(**train)})

    @property
    def curve_steps(self) -> tuple[int, ...]:
        steps = {max(1, self.train.steps >> k) for k in range(self.curve_points)}
        return tuple(sorted(steps))


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
    """The TrainLog curves (mirrorpo.train.population.LOG_KEYS) over ``log_steps``."""
    log_steps: list[int]


Scorer = Callable[[PolicyStack, int], tuple[np.ndarray, np.ndarray]]
"""(policies, eval seed) → (sampled scores, mean-action scores), each (P,)."""


def train_and_score(arrays: dict[str, np.ndarray], reference: PolicyStack, specs: list[str],
                    labels: list[str], seeds: list[int], cfg: TrainConfig, eval_seed: int,
                    scorer: Scorer, progress: Callable[[int], None] | None = None,
                    ) -> tuple[list[Member], np.ndarray]:
    """Train one member per (spec, seed) and score it (and its snapshots) on the episodes of
    ``eval_seed + seed``. Also returns the reference's (sampled, mean-action) scores at each
    distinct seed, (S, 2)."""
    fns = {s: parse_loss_spec(s)[1] for s in dict.fromkeys(specs)}
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
        sampled, mean_act = scorer(concat(parts), eval_seed + s)
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
    for loss in cfg.losses:
        for s in sweep_specs(loss):
            specs += [s] * cfg.val_seeds
            labels += [loss] * cfg.val_seeds
    seeds = [VAL_SEED_BASE + k for k in range(cfg.val_seeds)] * (len(specs) // cfg.val_seeds)
    members, _ = train_and_score(arrays, reference, specs, labels, seeds,
                                 cfg.train, VAL_EVAL_SEED, scorer, progress)
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
    other's test members): same env, training settings, episodes and curve points."""
    return (a.env, a.train, a.episodes, a.curve_points) == \
        (b.env, b.train, b.episodes, b.curve_points)


def test_unit(cfg: BenchConfig, chosen: dict[str, str], arrays, reference, scorer,
              progress=None, reuse: dict | None = None) -> dict:
    """Every loss at its chosen spec on test seeds 0..seeds−1, with snapshots.

    ``reuse`` is an earlier test unit made with the same training and evaluation settings: its
    members of the same (loss, spec, seed) are taken over, not retrained. A member's result
    does not depend on the other members of its population (its minibatches, parameters and
    episodes are its own), so this changes the cost, not the numbers.
    """
    wanted = [(loss, chosen[loss], seed) for loss in cfg.losses for seed in range(cfg.seeds)]
    old = {(m["loss"], m["spec"], m["seed"]): m for m in (reuse or {}).get("members", [])}
    todo = [w for w in wanted if w not in old]
    new: dict[tuple, dict] = {}
    ref_by_seed: dict[int, tuple[float, float]] = {}
    if reuse is not None:
        ref_ma = reuse.get("reference_mean_action") or [float("nan")] * len(reuse["reference"])
        ref_by_seed = dict(enumerate(zip(reuse["reference"], ref_ma, strict=True)))
    if todo:
        train = TrainConfig(**{**asdict(cfg.train), "snapshot_steps": cfg.curve_steps})
        labels, specs, seeds = (list(x) for x in zip(*todo, strict=True))
        members, ref = train_and_score(arrays, reference, specs, labels, seeds, train,
                                       TEST_EVAL_SEED, scorer, progress)
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
        cfg_path = Path(root) / "config.json"
        if cfg_path.exists() and not force:
            saved = json.loads(cfg_path.read_text())
            if saved != _jsonable(cfg.to_json()):
                raise FileExistsError(
                    f"{cfg_path}: holds a different benchmark (pass the same options to "
                    f"resume it, or another --out)")
        (Path(root) / "units").mkdir(parents=True, exist_ok=True)
        write_text_atomic(cfg_path, json.dumps(cfg.to_json(), indent=2))
        return cls(root, cfg)

    @classmethod
    def open(cls, root: Path) -> BenchRun:
        """An existing run, read only."""
        return cls(root, BenchConfig.from_json(read_json(Path(root) / "config.json",
                                                         "bench run")))

    def unit_path(self, preset: str, phase: str) -> Path:
        return self.root / "units" / f"{preset.replace('/', '_')}.{phase}.json"

    def load(self, preset: str, phase: str) -> dict | None:
        p = self.unit_path(preset, phase)
        return json.loads(p.read_text()) if p.exists() else None

    def save(self, preset: str, phase: str, unit: dict) -> None:
        write_text_atomic(self.unit_path(preset, phase), json.dumps(unit, indent=1,
                                                                    default=_json_default))


def _json_default(x):
    if isinstance(x, float | np.floating) and not np.isfinite(x):
        return None
    raise TypeError(type(x))


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d))


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
    """A loss spec as shown in tables: an MPO file as 'family:stem', others as given."""
    return parse_loss_spec(spec)[0] if spec.endswith(".json") else spec


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
