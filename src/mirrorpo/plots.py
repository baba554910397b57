"""Benchmark figures (matplotlib, written as PNG): score bars with CIs, training-length curves
and log-likelihood curves. Pure rendering: inputs are the benchmark's saved records."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    """pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay out, write as PNG and close. ``bbox_inches="tight"`` so long tick labels never
    push an axis label off the canvas."""
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)


def score_bars(rows: dict, title: str, path: Path) -> None:
    """Horizontal bars of mean normalised score with 95% CIs; the reference as a dashed line.

    rows: name → (RowStats, spec), reference first (see mirrorpo.benchmark.table_rows).
    """
    plt = _plt()
    names = list(rows)
    stats = [rows[n][0] for n in names]
    y = np.arange(len(names))[::-1]
    mean = np.array([s.mean for s in stats])
    err = np.array([[s.mean - s.mean_ci[0], s.mean_ci[1] - s.mean] for s in stats]).T
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.2))
    colors = ["0.55" if n == "reference" else "C0" for n in names]
    ax.barh(y, mean, xerr=err, color=colors, capsize=3)
    ax.axvline(mean[0], color="0.3", ls="--", lw=1)
    ax.set_yticks(y, [f"{n}  ({rows[n][1]})" if n != "reference" else n for n in names],
                  fontsize=8)
    ax.set_xlabel("normalised score (sampled actions), mean and 95% CI")
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def training_curves(curves: dict[str, tuple[list[int], np.ndarray]], reference: float,
                    title: str, path: Path) -> None:
    """Score against training step per loss: curves maps name → (steps, scores (runs, steps))."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, (steps, scores)) in enumerate(curves.items()):
        m = scores.mean(0)
        se = scores.std(0, ddof=1) / np.sqrt(len(scores)) if len(scores) > 1 else 0 * m
        ax.plot(steps, m, marker="o", ms=3, label=name, color=f"C{i % 10}",
                ls="-" if i < 10 else "--")
        ax.fill_between(steps, m - se, m + se, alpha=0.15, color=f"C{i % 10}")
    ax.axhline(reference, color="0.3", ls="--", lw=1, label="reference")
    ax.set_xscale("log")
    ax.set_xlabel("optimiser steps")
    ax.set_ylabel("normalised score (mean ± s.e. over seeds)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def logp_curves(logs: dict[str, dict[str, np.ndarray]], steps: list[int], title: str,
                path: Path) -> None:
    """Chosen and rejected log-ratio ℓ − ℓ_ref and implicit-reward margin over training.

    logs: name → {"chosen_logratios", "rejected_logratios", "reward_margin"}, each
    (runs, n_logs). A falling chosen curve is probability mass pushed off the preferred data.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    keys = [("chosen_logratios", "chosen: ℓ(y_w) − ℓ_ref(y_w)"),
            ("rejected_logratios", "rejected: ℓ(y_l) − ℓ_ref(y_l)"),
            ("reward_margin", "margin h = chosen − rejected")]
    for i, (name, d) in enumerate(logs.items()):
        for ax, (k, _) in zip(axes, keys, strict=True):
            ax.plot(steps, d[k].mean(0), label=name, color=f"C{i % 10}",
                    ls="-" if i < 10 else "--")
    for ax, (_, label) in zip(axes, keys, strict=True):
        ax.set_xlabel("optimiser steps")
        ax.set_title(label, fontsize=9)
    for ax in axes:
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)
        ax.set_yscale("symlog", linthresh=10)  # collapsing losses reach ±1e6
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def interval_bars(rows: dict[str, tuple[float, float, float]], xlabel: str, title: str,
                  path: Path, line: float | None = None) -> None:
    """Horizontal bars of (mean, low, high) per name, with an optional dashed reference line
    (e.g. a win rate of 0.5 against the reference)."""
    plt = _plt()
    names = list(rows)
    y = np.arange(len(names))[::-1]
    mean = np.array([rows[n][0] for n in names])
    err = np.array([[rows[n][0] - rows[n][1], rows[n][2] - rows[n][0]] for n in names]).T
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.2))
    ax.barh(y, mean, xerr=err, color="C0", capsize=3)
    if line is not None:
        ax.axvline(line, color="0.3", ls="--", lw=1)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def frontier(points: dict[str, list[tuple[str, object, object]]], reference_reward: float | None,
             title: str, path: Path) -> None:
    """Judged reward against KL to the reference, one line per loss swept over its
    hyper-parameter (points: family → [(label, KL summary, reward summary)] in increasing KL;
    summaries have mean, low, high), 95% CIs as error bars in both directions, each point
    marked with its setting (the label after ``:``, e.g. ``beta=0.1``); the reference's reward
    (KL 0) as a dashed line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (fam, pts) in enumerate(points.items()):
        kl = np.array([k.mean for _, k, _ in pts])
        rw = np.array([r.mean for _, _, r in pts])
        xerr = np.array([[k.mean - k.low, k.high - k.mean] for _, k, _ in pts]).T
        yerr = np.array([[r.mean - r.low, r.high - r.mean] for _, _, r in pts]).T
        ax.errorbar(kl, rw, xerr=xerr, yerr=yerr, marker="o", ms=4, lw=1.2, capsize=2,
                    color=f"C{i % 10}", label=fam)
        for (label, _, _), x, y in zip(pts, kl, rw, strict=True):
            setting = label.partition(":")[2].replace("beta=", "β=")
            if setting:
                ax.annotate(setting, (x, y), textcoords="offset points", xytext=(4, 3),
                            fontsize=6.5, color=f"C{i % 10}")
    if reference_reward is not None:
        ax.axhline(reference_reward, color="0.3", ls="--", lw=1, label="reference")
    ax.set_xlabel("KL to the reference (nats per response)")
    ax.set_ylabel("judged reward")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def interval_curves(curves: dict[str, list[tuple[float, object]]], reference: float | None,
                    xlabel: str, ylabel: str, title: str, path: Path) -> None:
    """A metric against a training quantity, one line per name with its 95% CI as a band
    (curves: name → [(x, summary with mean, low, high)] in increasing x); ``reference`` as a
    dashed horizontal line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, pts) in enumerate(curves.items()):
        x = np.array([p[0] for p in pts], dtype=float)
        color, ls = f"C{i % 10}", "-" if i < 10 else "--"
        ax.plot(x, [s.mean for _, s in pts], marker="o", ms=3, label=name, color=color, ls=ls)
        ax.fill_between(x, [s.low for _, s in pts], [s.high for _, s in pts], alpha=0.15,
                        color=color)
    if reference is not None:
        ax.axhline(reference, color="0.3", ls="--", lw=1, label="reference")
    ax.xaxis.get_major_locator().set_params(integer=True)  # steps, seeds, ...: whole numbers
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


VERDICT_COLORS = {"win": "C2", "loss": "C3", "no win": "0.45"}


def verdict_forest(rows: list[tuple[str, str, bool, float, float, float]], title: str,
                   path: Path) -> None:
    """A forest plot of a round's primary comparisons: one line per (group, baseline) with
    its paired difference and corrected CI (rows: label "group vs baseline", the group's
    verdict, whether this comparison is rejected, mean, low, high; in table order), coloured
    by the verdict, filled where rejected, zero as a dashed line; groups (a target's
    candidate) are separated by thin rules."""
    plt = _plt()
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(8.6, 0.26 * len(rows) + 1.4))
    for yi, (_, verdict, rejected, mean, low, high) in zip(y, rows, strict=True):
        color = VERDICT_COLORS.get(verdict, "C0")
        ax.errorbar(mean, yi, xerr=[[mean - low], [high - mean]], fmt="o", ms=4.5, capsize=2,
                    color=color, mfc=color if rejected else "white")
    groups = [r[0].rsplit(" vs ", 1)[0] for r in rows]
    for i in range(1, len(rows)):
        if groups[i] != groups[i - 1]:
            ax.axhline(y[i] + 0.5, color="0.85", lw=0.8)
    ax.axvline(0, color="0.3", ls="--", lw=1)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=v)
               for v, c in VERDICT_COLORS.items() if any(r[1] == v for r in rows)]
    handles.append(plt.Line2D([], [], color="0.3", marker="o", mfc="white", ls="",
                              label="not rejected"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_xlabel("candidate − tuned baseline, normalised score (Holm-corrected CI)")
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def transfer_heatmap(losses: list[str], targets: list[str], cells: dict, title: str,
                     path: Path) -> None:
    """The transfer matrix (``mirrorpo.confirm.transfer_cells``) as a heatmap: a row per loss,
    a column per target, each cell coloured by the loss's paired difference against the
    target's baseline (diverging, zero white) and labelled with it and its 95% interval; a
    loss's own target is outlined, an interval that excludes zero is in bold."""
    plt = _plt()
    values = np.full((len(losses), len(targets)), np.nan)
    for (loss, target), c in cells.items():
        values[losses.index(loss), targets.index(target)] = c.mean
    span = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.9 * len(targets) + 3.2, 0.5 * len(losses) + 1.6))
    im = ax.imshow(values, cmap="RdBu", vmin=-span, vmax=span, aspect="auto")
    for (loss, target), c in cells.items():
        i, j = losses.index(loss), targets.index(target)
        strong = c.low > 0 or c.high < 0
        ax.text(j, i, f"{c.mean:+.1f}\n[{c.low:+.1f}, {c.high:+.1f}]", ha="center",
                va="center", fontsize=6.5, fontweight="bold" if strong else "normal",
                color="white" if abs(c.mean) > 0.6 * span else "black")
        if c.own:
            ax.add_patch(plt.Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=1.8,
                                       ec="black"))
    ax.set_xticks(range(len(targets)), targets, fontsize=8, rotation=15, ha="right")
    ax.set_yticks(range(len(losses)), losses, fontsize=7.5)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="difference (normalised score)")
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def knockout_panels(panels: dict[str, dict[str, tuple[float, float, float, bool]]], title: str,
                    path: Path) -> None:
    """Knock-out costs side by side, a panel per ablated loss: for each term, the score the
    loss loses when the term is dropped (mean, low, high of original − variant), filled where
    the term is supported, zero as a dashed line."""
    plt = _plt()
    rows = max(len(p) for p in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 1.2, 0.3 * rows + 1.5),
                             squeeze=False)
    for ax, (name, costs) in zip(axes[0], panels.items(), strict=True):
        terms = list(costs)
        y = np.arange(len(terms))[::-1]
        for yi, t in zip(y, terms, strict=True):
            mean, low, high, supported = costs[t]
            ax.errorbar(mean, yi, xerr=[[mean - low], [high - mean]], fmt="o", ms=4.5,
                        capsize=2, color="C3" if supported else "0.35",
                        mfc="C3" if supported else "white")
        ax.axvline(0, color="0.3", ls="--", lw=1)
        ax.set_yticks(y, terms, fontsize=7.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("score lost without the term", fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
