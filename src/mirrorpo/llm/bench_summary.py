"""The LLM benchmark's bookkeeping: which (preset, loss, seed) units a run has, and the
per-loss summary over training seeds with percentile-bootstrap 95% CIs (as the control
suite's benchmark reports them; mirrorpo.stats).

Pure functions over the units' saved metrics; training and sampling live in
mirrorpo.llm.benchmark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mirrorpo.stats import bootstrap_ci

METRICS = ("win_rate", "lc_win_rate", "reward_mean", "kl_to_reference", "length_mean")
"""Per-unit metrics summarised over seeds (see mirrorpo.llm.metrics)."""


@dataclass(frozen=True)
class Unit:
    """One training run of the benchmark: ``loss`` (as the config records it: a spec, a loss
    file, or ``python:LABEL``), labelled ``label``, on ``preset``."""

    preset: str
    label: str
    loss: str
    seed: int

    def directory(self, root: Path) -> Path:
        return root / "units" / self.preset / label_dir_name(self.label) / f"seed-{self.seed}"


def label_dir_name(label: str) -> str:
    """A directory name for a loss label (``mpo:mean`` → ``mpo-mean``)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", label).strip("-")


def loss_label(spec: str) -> str:
    """Display name of a loss spec: the spec itself, or ``<run dir>-<stem>`` for a loss file
    (runs/search/hopper-mixed/mean.json → hopper-mixed-mean; with coordinates set,
    ``…/mean.json:beta=0.05`` → hopper-mixed-mean:beta=0.05)."""
    from mirrorpo.losses.resolve import FILE_SPEC

    m = FILE_SPEC.match(spec)
    if m:
        path = Path(m["path"])
        return f"{path.resolve().parent.name}-{path.stem}" + (f":{m['args']}" if m["args"] else "")
    return spec


def unit_label(loss) -> str:
    """The bench's name of a resolved loss (a ``NamedLoss``): :func:`loss_label` of its spec,
    or its label for a Python callable."""
    return loss_label(loss.spec) if loss.spec is not None else loss.label


def plan_units(presets: list[str], losses: list[tuple[str, str]], seeds: int,
               offset: int = 0) -> list[Unit]:
    """Every (preset, loss, seed) for losses given as (label, record) and seeds offset ..
    offset + seeds − 1, seeds outermost, so the first seeds of every loss finish before later
    ones (an interrupted run already compares all losses). Two losses with one label are
    refused (they would share a directory)."""
    labels = [lab for lab, _ in losses]
    if len(set(labels)) != len(labels):
        raise ValueError(f"losses with the same name: {labels}")
    return [Unit(p, lab, record, k) for k in range(offset, offset + seeds) for p in presets
            for lab, record in losses]


@dataclass(frozen=True)
class MetricSummary:
    mean: float
    low: float
    high: float
    runs: int


def summarise(results: list[tuple[Unit, dict]]) -> dict[tuple[str, str], dict]:
    """(preset, label) → metric → MetricSummary over that loss's seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for unit, metrics in results:
        groups.setdefault((unit.preset, unit.label), []).append(metrics)
    return {key: {m: metric_summary([r[m] for r in rows]) for m in METRICS}
            for key, rows in groups.items()}


def metric_summary(values) -> MetricSummary:
    """Mean and 95% percentile-bootstrap CI of one metric over seeds."""
    x = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(x)
    return MetricSummary(float(x.mean()), float(low), float(high), len(x))


def loss_family(label: str) -> str:
    """The loss a bench label sweeps: the label before its hyper-parameters (``dpo:beta=0.3``
    → ``dpo``, ``mpo:best:beta=0.05`` → ``mpo:best``); a label without them is its own."""
    head, _, rest = label.rpartition(":")
    return head if head and "=" in rest else label


def frontier_points(summary: dict[tuple[str, str], dict], preset: str
                    ) -> dict[str, list[tuple[str, MetricSummary, MetricSummary]]]:
    """The reward-versus-KL frontier of one preset: loss family (``loss_family``) → its
    settings as (label, KL to the reference, judged reward), in increasing KL, as the DPO
    paper's controlled-sentiment frontier draws each loss swept over its hyper-parameter."""
    out: dict[str, list] = {}
    for (p, label), m in summary.items():
        if p == preset:
            out.setdefault(loss_family(label), []).append(
                (label, m["kl_to_reference"], m["reward_mean"]))
    return {fam: sorted(pts, key=lambda x: x[1].mean) for fam, pts in out.items()}


def reference_summary(references: list[dict]) -> dict[str, MetricSummary]:
    """The reference's own reward and length over the evaluation seeds."""
    return {m: metric_summary([r[m] for r in references]) for m in ("reward_mean", "length_mean")}


def head_to_head(results: list[tuple[Unit, dict]], preset: str, against: str
                 ) -> dict[str, MetricSummary]:
    """Each loss's win rate against the loss labelled ``against`` on ``preset``, paired per
    held-out prompt and seed (``paired_win_rate`` over the seeds both ran); losses whose units
    lack per-prompt rewards (evaluated before they were saved) are left out."""
    from mirrorpo.llm.metrics import paired_win_rate

    by = {}
    for unit, m in results:
        if unit.preset == preset and "rewards" in m:
            by.setdefault(unit.label, {})[unit.seed] = m["rewards"]
    base = by.get(against, {})
    out = {}
    for label, seeds in by.items():
        common = sorted(set(seeds) & set(base))
        if label == against or not common:
            continue
        a = np.array([seeds[s] for s in common])
        b = np.array([base[s] for s in common])
        mean, low, high = paired_win_rate(a, b)
        out[label] = MetricSummary(mean, low, high, len(common))
    return out


def _cell(s: MetricSummary, digits: int = 3) -> str:
    return f"{s.mean:.{digits}f} [{s.low:.{digits}f}, {s.high:.{digits}f}]"


def markdown_summary(summary: dict[tuple[str, str], dict], reference: dict[str, MetricSummary],
                     presets: list[str], results: list[tuple[Unit, dict]] | None = None,
                     against: str = "dpo") -> str:
    """One table per preset: each loss's metrics (mean [95% CI] over seeds); the loss with
    the best mean win rate in bold; with ``results``, a head-to-head table against the loss
    labelled ``against`` (``head_to_head``) when the bench has it."""
    lines = []
    for preset in presets:
        rows = {lab: m for (p, lab), m in summary.items() if p == preset}
        if not rows:
            continue
        top = max(rows, key=lambda lab: rows[lab]["win_rate"].mean)
        lines += [f"### {preset}", "",
                  "| loss | win rate | LC win rate | reward | KL to ref | length | runs |",
                  "|---|---|---|---|---|---|---|",
                  f"| reference | 0.5 | 0.5 | {_cell(reference['reward_mean'])} | 0 | "
                  f"{_cell(reference['length_mean'], 1)} | {reference['reward_mean'].runs} |"]
        for lab, m in rows.items():
            win = _cell(m["win_rate"])
            lines.append(f"| {lab} | {f'**{win}**' if lab == top else win} | "
                         f"{_cell(m['lc_win_rate'])} | {_cell(m['reward_mean'])} | "
                         f"{_cell(m['kl_to_reference'], 2)} | {_cell(m['length_mean'], 1)} | "
                         f"{m['win_rate'].runs} |")
        lines.append("")
        h2h = head_to_head(results, preset, against) if results else {}
        if h2h:
            lines += [f"Head to head against {against} (win rate paired per prompt and seed, "
                      "95% CI from a bootstrap over seeds and prompts):", "",
                      f"| loss | win rate against {against} | seeds |", "|---|---|---|"]
            lines += [f"| {lab} | {_cell(s)} | {s.runs} |" for lab, s in h2h.items()]
            lines.append("")
    return "\n".join(lines)


def curve_points(results: list[tuple[Unit, dict]], preset: str, metric: str = "reward_mean"
                 ) -> dict[str, list[tuple[int, MetricSummary]]]:
    """The training-length curve of one preset: loss label → (step, ``metric`` over the seeds
    evaluated at that step) in increasing step, from the units' ``curve`` (units evaluated
    without one are left out)."""
    by: dict[str, dict[int, list[float]]] = {}
    for unit, m in results:
        if unit.preset == preset and m.get("curve"):
            steps = by.setdefault(unit.label, {})
            for point in m["curve"]:
                steps.setdefault(int(point["step"]), []).append(float(point[metric]))
    out = {}
    for label, steps in by.items():
        out[label] = []
        for step in sorted(steps):
            x = np.array(steps[step])
            low, high = bootstrap_ci(x)
            out[label].append((step, MetricSummary(float(x.mean()), float(low), float(high),
                                                   len(x))))
    return out


def curve_markdown(curves: dict[str, list[tuple[int, MetricSummary]]],
                   reference: MetricSummary | None, preset: str) -> str:
    """A table of judged reward (mean [95% CI] over seeds) per loss and training step, the
    reference's reward as its first row ("" when there is no curve)."""
    steps = sorted({s for pts in curves.values() for s, _ in pts})
    if not steps:
        return ""
    lines = [f"### curve: {preset}", "",
             "Judged reward (mean [95% CI] over seeds) after each number of training steps.",
             "", "| loss | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|" + "---|" * len(steps)]
    if reference is not None:
        lines.append("| reference | " + " | ".join([_cell(reference)] * len(steps)) + " |")
    for label, pts in curves.items():
        cells = dict(pts)
        lines.append(f"| {label} | " + " | ".join(_cell(cells[s]) if s in cells else "–"
                                                  for s in steps) + " |")
    return "\n".join(lines + [""])


def csv_rows(summary: dict[tuple[str, str], dict]) -> list[dict]:
    rows = []
    for (preset, label), metrics in summary.items():
        row: dict = {"preset": preset, "loss": label}
        for m, s in metrics.items():
            row.update({m: s.mean, f"{m}_low": s.low, f"{m}_high": s.high})
        row["runs"] = metrics["win_rate"].runs
        rows.append(row)
    return rows
