"""Tuning LLM losses on the validation topics with a reported budget, for a test on the others.

:func:`tune` benches every point of every loss's grid (mirrorpo.llm.benchmark.bench) on the
validation half of the held-out prompts (``eval_split="validation"``) with seeds 0..N−1; the
tuning directory is that bench's directory, so it resumes unit by unit and its frontier plots
draw each loss swept over its grid. It then chooses one point per loss and writes
``tuned.json`` and, at the top of ``summary.md``, the budget of every loss side by side. The
test is a bench of the chosen specs (:func:`tuned_losses`; ``llm bench --tuned``) on the test
half, with seeds disjoint from the tuning's (``seed_offset``), checked by
:func:`check_tuned_bench`.

Grids, one per loss (:func:`parse_grid`): ``NAME`` is the registered loss's sweep of its main
hyper-parameter (``LossSpec.sweep``: β ∈ {0.01, 0.1, 1} for dpo); ``HEAD:key=v1|v2,...``
is the cross product of the ``|``-separated values (HEAD a registered name or an import path);
any other spec is a grid of one point.

Choice: with c(u) the criterion of unit u (``reward``: its mean judged reward; ``win_rate``: its
win rate against the reference) and U(g) the finished units of grid point g (presets × seeds),

    chosen = argmax_g  mean_{u ∈ U(g)} c(u)        (the first point of the grid on ties),

reported with a percentile-bootstrap 95% CI over U(g). Budget of a loss: runs = Σ_g |U(g)| =
grid points × presets × seeds, optimiser steps = runs × steps.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mirrorpo.config import ConfigError, first_difference
from mirrorpo.llm.config import TUNE_CRITERIA, LLMBenchConfig, LLMTuneConfig
from mirrorpo.progress import Log, Progress, no_log, no_progress

TUNED_FILE = "tuned.json"


@dataclass(frozen=True)
class Grid:
    """One loss's grid: its name ``loss``, the points' ``specs`` and, per point, the values of
    the hyper-parameters it sets (``values``, parallel to ``specs``)."""

    loss: str
    specs: tuple[str, ...]
    values: tuple[dict[str, float], ...]

    @property
    def swept(self) -> dict[str, list[float]]:
        """Hyper-parameter → its sorted distinct values, for those with more than one."""
        axes: dict[str, set] = {}
        for point in self.values:
            for k, v in point.items():
                axes.setdefault(k, set()).add(v)
        return {k: sorted(vs) for k, vs in axes.items() if len(vs) > 1}

    def at_edge(self, index: int) -> bool:
        """Whether point ``index`` sits at the smallest or largest value of a swept
        hyper-parameter (the optimum may lie beyond the grid)."""
        return any(self.values[index][k] in (vs[0], vs[-1]) for k, vs in self.swept.items())


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"LLMTuneConfig.grid: {where!r}: {text.strip()!r} is not a "
                          "number") from None


def parse_grid(text: str) -> Grid:
    """The :class:`Grid` of one ``--grid`` text (module docstring); ConfigError naming it."""
    from mirrorpo.losses.registry import LOSSES

    text = text.strip()
    if not text:
        raise ConfigError("LLMTuneConfig.grid: an empty grid")
    head, _, args = text.rpartition(":")
    if "|" not in text:
        spec = LOSSES.get(text)
        if spec is not None and spec.main_hparam is not None:
            h = spec.main_hparam
            return Grid(text, tuple(f"{text}:{h}={v:g}" for v in spec.sweep),
                        tuple({h: float(v)} for v in spec.sweep))
        return Grid(head if head and "=" in args else text, (text,), ({},))
    if not head or "=" not in args:
        raise ConfigError(f"LLMTuneConfig.grid: {text!r}: give the values as "
                          "NAME:key=v1|v2|...")
    axes: dict[str, list[float]] = {}
    for item in filter(None, (s.strip() for s in args.split(","))):
        key, eq, values = item.partition("=")
        key = key.strip()
        if not eq or not key or key in axes:
            raise ConfigError(f"LLMTuneConfig.grid: {text!r}: expected distinct key=v1|v2|... "
                              f"items, got {item!r}")
        axes[key] = [_number(v, text) for v in values.split("|")]
        if len(set(axes[key])) != len(axes[key]):
            raise ConfigError(f"LLMTuneConfig.grid: {text!r}: {key} has a value twice")
    points = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    specs = tuple(f"{head}:" + ",".join(f"{k}={v:g}" for k, v in p.items()) for p in points)
    return Grid(head, specs, tuple(points))


def parse_grids(texts: tuple[str, ...]) -> list[Grid]:
    """Every grid, each loss and each point once (ConfigError naming the repeat)."""
    grids = [parse_grid(t) for t in texts]
    losses = [g.loss for g in grids]
    specs = [s for g in grids for s in g.specs]
    for what, items in (("loss", losses), ("grid point", specs)):
        twice = next((x for x in items if items.count(x) > 1), None)
        if twice is not None:
            raise ConfigError(f"LLMTuneConfig.grid: {what} {twice!r} given twice (give one "
                              "grid per loss, its values separated by '|')")
    return grids


def best_point(scores: list[np.ndarray]) -> int:
    """Index of the point with the highest mean score (the first on ties; points without
    scores never win)."""
    means = [float(np.mean(s)) if len(s) else -np.inf for s in scores]
    return int(np.argmax(means))


def tuning_record(grids: list[Grid], labels: dict[str, str], results: list, criterion: str,
                  steps: int) -> dict:
    """tuned.json's ``losses``: per loss, the chosen spec (:func:`best_point` of the
    criterion over each point's finished units), its criterion (mean and 95% bootstrap CI over
    presets × seeds), every point's, and the budget (grid points, runs, optimiser steps).
    ``labels``: spec → the bench's label of it; ``results``: (Unit, metrics) pairs."""
    from mirrorpo.stats import bootstrap_ci

    metric = TUNE_CRITERIA[criterion]
    by_label: dict[str, list[float]] = {}
    for unit, m in results:
        by_label.setdefault(unit.label, []).append(float(m[metric]))
    out = {}
    for g in grids:
        scores = [np.array(by_label.get(labels[s], [])) for s in g.specs]
        points = []
        for spec, x in zip(g.specs, scores, strict=True):
            low, high = bootstrap_ci(x) if len(x) else (np.nan, np.nan)
            points.append({"spec": spec, "mean": float(np.mean(x)) if len(x) else None,
                           "low": float(low) if len(x) else None,
                           "high": float(high) if len(x) else None, "runs": len(x)})
        k = best_point(scores)
        runs = sum(len(x) for x in scores)
        out[g.loss] = {"spec": g.specs[k], "label": labels[g.specs[k]],
                       "criterion": {key: points[k][key] for key in ("mean", "low", "high",
                                                                     "runs")},
                       "at_edge": g.at_edge(k), "grid_points": len(g.specs), "runs": runs,
                       "optimizer_steps": runs * steps, "grid": points}
    return out


def budget_markdown(record: dict) -> str:
    """The tuning's table: each loss's budget beside its choice and validation criterion."""
    name = record["criterion"].replace("_", " ")
    lines = ["# LLM tuning (validation split)", "",
             f"Per loss, the grid point with the highest mean {name} over presets × seeds "
             f"(seeds {record['seeds'][0]}..{record['seeds'][-1]}, {record['steps']} steps per "
             "run); its 95% bootstrap CI; the runs each loss's tuning spent.", "",
             f"| loss | grid points | runs | optimiser steps | chosen | {name} | at grid edge |",
             "|---|---|---|---|---|---|---|"]
    for loss, c in record["losses"].items():
        crit = c["criterion"]
        cell = "–" if crit["mean"] is None else \
            f"{crit['mean']:.3f} [{crit['low']:.3f}, {crit['high']:.3f}]"
        lines.append(f"| {loss} | {c['grid_points']} | {c['runs']} | {c['optimizer_steps']} | "
                     f"{c['spec']} | {cell} | {'yes' if c['at_edge'] else 'no'} |")
    return "\n".join(lines + ["", ""])


def finished_units(config: LLMBenchConfig, out: Path, labels: list[tuple[str, str]]) -> list:
    """(Unit, metrics) of every unit of ``config`` with an eval.json in ``out``; ``labels``:
    (label, record) per loss."""
    from mirrorpo.fileio import read_json
    from mirrorpo.llm.bench_summary import plan_units
    from mirrorpo.llm.benchmark import EVAL_FILE

    units = plan_units(list(config.presets), labels, config.seeds, config.seed_offset)
    return [(u, read_json(u.directory(out) / EVAL_FILE, "unit metrics")) for u in units
            if (u.directory(out) / EVAL_FILE).is_file()]


def tune(config: LLMTuneConfig, out, *, threads: int | None = None,
         progress: Progress = no_progress, log: Log = no_log) -> dict:
    """Bench every grid point of ``config.grid`` on the validation split in ``out`` (or resume
    it), choose one point per loss (module docstring) and write ``out``/tuned.json, and the
    budget table at the top of ``out``/summary.md; returns tuned.json's content. Every grid
    point must resolve (``resolve_loss``), checked with the bench's inputs before any model
    is loaded. Another ``criterion`` on a finished tuning only chooses again."""
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.bench_summary import unit_label
    from mirrorpo.llm.benchmark import bench
    from mirrorpo.losses.resolve import resolve_loss

    out = Path(out)
    grids = parse_grids(config.grid)
    named = {}
    for spec in (s for g in grids for s in g.specs):
        try:
            named[spec] = resolve_loss(spec)
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"LLMTuneConfig.grid: {exc}") from None
    labels = {spec: unit_label(nl) for spec, nl in named.items()}
    bench_config = config.bench_config(list(named))
    bench(bench_config, out, threads=threads, progress=progress, log=log)
    results = finished_units(bench_config, out,
                             [(labels[s], nl.record) for s, nl in named.items()])
    gen = config.eval.generation()
    del gen["seed"]
    record = {"criterion": config.criterion, "metric": TUNE_CRITERIA[config.criterion],
              "split": "validation", "data": config.data, "model": config.model,
              "presets": list(config.presets), "seeds": list(bench_config.seed_range),
              "steps": config.train.steps, "train": bench_config.train_json(), "eval": gen,
              "losses": tuning_record(grids, labels, results, config.criterion,
                                      config.train.steps)}
    write_text_atomic(out / TUNED_FILE, json.dumps(record, indent=1))
    summary = (out / "summary.md").read_text() if (out / "summary.md").is_file() else ""
    # another process sharing the tuning may have put its (equal) table there already
    summary = summary[summary.find("# LLM bench"):] if "# LLM bench" in summary else summary
    write_text_atomic(out / "summary.md", budget_markdown(record) + summary)
    for loss, c in record["losses"].items():
        log(f"{loss}: chose {c['spec']} ({config.criterion} {c['criterion']['mean']:.3f}) "
            f"after {c['runs']} runs")
    return record


def read_tuned(path) -> dict:
    """A tuned.json; ValueError naming the file when it is not one."""
    from mirrorpo.fileio import read_json

    record = read_json(Path(path), "tuned losses")
    if not isinstance(record, dict) or not isinstance(record.get("losses"), dict) or not all(
            isinstance(c, dict) and isinstance(c.get("spec"), str)
            for c in record["losses"].values()):
        raise ValueError(f"{path}: not a tuned.json of `mirrorpo llm tune` (no losses with "
                         "a chosen spec)")
    return record


def tuned_losses(path) -> tuple[str, ...]:
    """The chosen spec of every loss of a tuned.json, in its order."""
    return tuple(c["spec"] for c in read_tuned(path)["losses"].values())


def check_tuned_bench(path, config: LLMBenchConfig) -> None:
    """Refuse a test bench of tuned losses that is not a fair test of the tuning of ``path``:
    other data or model, other training or sampling settings, a split other than test, or
    seeds shared with the tuning (ConfigError / ValueError naming the setting)."""
    record = read_tuned(path)
    for name in ("data", "model"):
        if record.get(name) is not None and str(Path(record[name])) != getattr(config, name):
            raise ConfigError(f"LLMBenchConfig.{name}: {getattr(config, name)}, but {path} was "
                              f"tuned with {record[name]}")
    if config.eval_split != "test":
        raise ConfigError(f"LLMBenchConfig.eval_split: a bench of the losses tuned in {path} "
                          f"scores the test split, got {config.eval_split!r}")
    shared = sorted(set(record.get("seeds", [])) & set(config.seed_range))
    if shared:
        raise ConfigError(f"LLMBenchConfig.seed_offset: seeds {shared[0]}..{shared[-1]} were "
                          f"tuning seeds in {path}; give an offset of at least "
                          f"{max(record['seeds']) + 1}")
    gen = config.eval.generation()
    del gen["seed"]
    for key, given in (("train", config.train_json()), ("eval", gen)):
        diff = first_difference(record.get(key), given, key)
        if diff:
            raise ValueError(f"{path}: tuned with other settings "
                             f"({diff.replace('(saved)', '(tuned)')}); test with the tuning's "
                             "options")
