"""Head-to-head verdicts of an LLM test bench: candidates against a tuned baseline, paired per
held-out prompt and training seed, with Holm–Bonferroni over the primary comparisons.

A test bench (``llm bench --tuned``) holds, per loss and seed s, the judged reward r_sp of the
trained model's response to every test prompt p, and the reference's r⁰_sp (same sampling
seed). The win rate of loss A against B is

    W(A, B) = mean_{s,p} ( 1[r^A_sp > r^B_sp] + ½·1[r^A_sp = r^B_sp] ),

with a percentile bootstrap that resamples seeds and prompts independently
(:func:`mirrorpo.llm.metrics.paired_win_rate`) and the two-sided bootstrap p-value of
W = ½ (:func:`~mirrorpo.llm.metrics.paired_win_p_value`). Primary comparisons: each candidate
against the baseline (``against``), sorted by p-value and tested at α/(m − i + 1) (Holm 1979,
:func:`mirrorpo.verdicts.holm`); each one's corrected interval is the interval at that level. A
candidate *wins* when its comparison is rejected and its corrected interval lies above ½, and
*loses* when it is rejected below ½; otherwise *no win*. Every other figure (each loss against
the baseline and against the reference, every pair of losses, judged reward, KL to the
reference, length) is exploratory: uncorrected 95% intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mirrorpo.llm.bench_summary import metric_summary
from mirrorpo.llm.metrics import paired_win_test


@dataclass(frozen=True)
class Comparison:
    """Loss A against B: win rate (mean and interval at ``level``), its p-value, seeds."""

    a: str
    b: str
    win_rate: float
    low: float
    high: float
    level: float
    p_value: float
    seeds: int


@dataclass(frozen=True)
class Primary:
    """A primary comparison after Holm: the corrected comparison, whether it was rejected and
    the verdict ("win", "loss" or "no win")."""

    comparison: Comparison
    rejected: bool
    verdict: str


def read_bench_rewards(bench_dir, preset: str) -> tuple[dict[str, dict[int, list[float]]],
                                                         dict[str, dict[int, dict]]]:
    """(label → seed → per-prompt judged rewards, label → seed → eval metrics) of every
    finished unit of ``preset`` in a bench directory; the reference's rewards under the label
    ``"reference"``. FileNotFoundError naming the directory when it holds no unit."""
    from mirrorpo.fileio import read_json

    root = Path(bench_dir)
    rewards: dict[str, dict[int, list[float]]] = {}
    metrics: dict[str, dict[int, dict]] = {}
    for eval_file in sorted((root / "units" / preset).glob("*/seed-*/eval.json")):
        unit = read_json(eval_file.parent / "config.json", "unit config")
        m = read_json(eval_file, "unit metrics")
        if "rewards" not in m:
            continue
        rewards.setdefault(unit["loss_label"], {})[int(unit["seed"])] = m["rewards"]
        metrics.setdefault(unit["loss_label"], {})[int(unit["seed"])] = m
    if not rewards:
        raise FileNotFoundError(f"{root}: no finished unit of preset {preset!r} "
                                "(units/PRESET/LOSS/seed-K/eval.json)")
    refs = {int(p.stem.split("-")[1]): read_json(p, "reference samples")["rewards"]
            for p in sorted((root / "reference").glob("seed-*.json"))}
    rewards["reference"] = refs
    return rewards, metrics


def compare(rewards: dict[str, dict[int, list[float]]], a: str, b: str,
            level: float = 0.95) -> Comparison:
    """W(a, b) over the seeds both ran (module docstring); ValueError when none is shared."""
    common = sorted(set(rewards[a]) & set(rewards[b]))
    if not common:
        raise ValueError(f"{a} and {b} share no seed")
    x = np.array([rewards[a][s] for s in common])
    y = np.array([rewards[b][s] for s in common])
    mean, low, high, p_value = paired_win_test(x, y, level=level)
    return Comparison(a, b, mean, low, high, level, p_value, len(common))


def primary_comparisons(rewards: dict[str, dict[int, list[float]]], candidates: list[str],
                        against: str, alpha: float = 0.05) -> list[Primary]:
    """Each candidate against ``against``, Holm-corrected over the candidates (module
    docstring), in the candidates' order."""
    from mirrorpo.verdicts import holm

    raw = [compare(rewards, c, against) for c in candidates]
    rejected, levels = holm([c.p_value for c in raw], alpha)
    out = []
    for c, rej, level in zip(candidates, rejected, levels, strict=True):
        cmp = compare(rewards, c, against, level)
        verdict = ("win" if rej and cmp.low > 0.5 else
                   "loss" if rej and cmp.high < 0.5 else "no win")
        out.append(Primary(cmp, rej, verdict))
    return out


def loss_rows(pairs: dict[str, dict[str, dict]], metrics, against: str) -> list[dict]:
    """Per loss (bench order): win rate against ``against`` and against the reference
    (uncorrected 95%, from ``pairs``: :func:`pair_matrix`), mean judged reward, KL to the
    reference and length (mean and 95% bootstrap CI over seeds)."""
    return [{"loss": label,
             "vs_baseline": None if label == against else pairs[label][against],
             "vs_reference": pairs[label]["reference"],
             **{k: asdict(metric_summary([m[key] for m in metrics[label].values()])) for k, key
                in (("reward", "reward_mean"), ("kl", "kl_to_reference"),
                    ("length", "length_mean"))}}
            for label in metrics]


def pair_matrix(rewards, labels: list[str]) -> dict[str, dict[str, dict]]:
    """W(row, column) for every ordered pair of ``labels``, and of each against the
    reference (uncorrected 95%)."""
    return {a: {b: asdict(compare(rewards, a, b)) for b in [*labels, "reference"] if b != a}
            for a in labels}


def bench_split(bench_dir) -> str:
    """The prompts a bench was judged on (its config's ``eval_split``; "test" when unsaid)."""
    from mirrorpo.fileio import read_json

    config = Path(bench_dir) / "config.json"
    if not config.exists():
        return "test"
    return read_json(config, "bench config").get("eval_split", "test")


def llm_verdicts(bench_dir, preset: str, candidates: list[str], against: str,
                 alpha: float = 0.05) -> dict:
    """The verdict record of a test bench (JSON-able): the primary comparisons, per-loss rows
    and the pairwise matrix. ValueError naming a candidate or baseline the bench lacks."""
    rewards, metrics = read_bench_rewards(bench_dir, preset)
    for name, label in [("--against", against)] + [("--candidate", c) for c in candidates]:
        if label not in metrics:
            raise ValueError(f"{name}: {bench_dir} has no finished unit of {label!r} on "
                             f"{preset} (it has {', '.join(metrics)})")
    primary = primary_comparisons(rewards, candidates, against, alpha)
    pairs = pair_matrix(rewards, list(metrics))
    ref = metric_summary([float(np.mean(r)) for r in rewards["reference"].values()])
    return {"bench": str(bench_dir), "split": bench_split(bench_dir), "preset": preset,
            "against": against, "alpha": alpha,
            "family_size": len(candidates),
            "primary": [{**asdict(p.comparison), "rejected": p.rejected, "verdict": p.verdict}
                        for p in primary],
            "losses": loss_rows(pairs, metrics, against),
            "reference_reward": asdict(ref),
            "pairs": pairs}


def _ci(d: dict, digits: int = 3) -> str:
    return f"{d['mean']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}]"


def _win(d: dict) -> str:
    return f"{d['win_rate']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def verdicts_markdown(record: dict) -> str:
    """The verdict record as markdown: primary table, per-loss table, pairwise matrix."""
    against = record["against"]
    lines = [f"# LLM verdicts: {record['preset']} ({record['bench']})", "",
             f"Primary comparisons: each candidate against tuned {against}, win rate paired per "
             f"{record['split']} prompt and training seed; Holm–Bonferroni over "
             f"{record['family_size']} at α = {record['alpha']} (corrected intervals at the "
             "level shown).", "",
             f"| candidate | win rate against {against} [corrected CI] | level | p | seeds | "
             "verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {p['a']} | {_win(p)} | {p['level']:.3f} | {p['p_value']:.3f} | {p['seeds']} | "
              f"{p['verdict']} |" for p in record["primary"]]
    lines += ["", "Every loss (exploratory, uncorrected 95% intervals; reward, KL and length: "
              "mean over seeds with a bootstrap CI):", "",
              f"| loss | win rate against {against} | win rate against the reference | judged "
              "reward | KL to reference | length | seeds |", "|---|---|---|---|---|---|---|",
              f"| reference | – | 0.5 | {_ci(record['reference_reward'])} | 0 | – | "
              f"{record['reference_reward']['runs']} |"]
    for r in record["losses"]:
        vs = "–" if r["vs_baseline"] is None else _win(r["vs_baseline"])
        lines.append(f"| {r['loss']} | {vs} | {_win(r['vs_reference'])} | {_ci(r['reward'])} | "
                     f"{_ci(r['kl'], 2)} | {_ci(r['length'], 1)} | {r['reward']['runs']} |")
    labels = list(record["pairs"])  # the losses; each row also holds "reference"
    lines += ["", "Every pair (exploratory): win rate of the row's loss against the column's.",
              "", "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for a in labels:
        cells = ["–" if b == a else _win(record["pairs"][a][b]) for b in labels]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_verdicts(record: dict, out) -> list[Path]:
    """verdicts.json, verdicts.md and head_to_head.png (each loss's win rate against the
    baseline and against the reference, 95% intervals) in ``out``; returns their paths."""
    import json

    from mirrorpo import plots
    from mirrorpo.fileio import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_text_atomic(out / "verdicts.json", json.dumps(record, indent=1)),
             write_text_atomic(out / "verdicts.md", verdicts_markdown(record))]
    rows = {f"{r['loss']} vs {record['against']}": r["vs_baseline"] for r in record["losses"]
            if r["vs_baseline"] is not None}
    rows |= {f"{r['loss']} vs reference": r["vs_reference"] for r in record["losses"]}
    bars = {k: (v["win_rate"], v["low"], v["high"]) for k, v in rows.items()}
    plots.interval_bars(bars, "win rate (mean, 95% CI, paired per prompt and seed)",
                        f"SmolLM2 {record['split']} prompts, {record['preset']}: head to head",
                        out / "head_to_head.png", line=0.5)
    return paths + [out / "head_to_head.png"]
