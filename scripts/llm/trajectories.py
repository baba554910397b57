"""How close two losses' training runs are, step by step, from the units' TRL logs (log.csv).

    python scripts/llm/trajectories.py --bench runs/llm/tune --against dpo-beta=0.01 \
        --losses distilled-distilled-beta=0.01,search-best-beta=0.02117 > trajectories.md

Units of the same seed see the same pairs in the same order from the same initial adapter, so
the logged batch log-likelihoods of the chosen and rejected responses differ only through the
losses' updates. Two losses whose gradients differ by a constant factor take the same Adam steps
(Adam divides each coordinate by its running scale); the gradient-norm ratio and the largest
log-likelihood gap show when that is so. Exploratory; reads only training logs (no evaluation).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def trajectory_gap(base: pd.DataFrame, other: pd.DataFrame) -> dict:
    """Largest |Δ| of the logged chosen/rejected log-likelihoods over the shared steps, the
    gradient-norm ratio other/base (median, 5% and 95% over steps) and each loss's range."""
    steps = base.merge(other, on="step", suffixes=("_b", "_o"))
    ratio = steps["grad_norm_o"] / steps["grad_norm_b"]
    return {"steps": len(steps),
            "chosen": (steps["logps/chosen_o"] - steps["logps/chosen_b"]).abs().max(),
            "rejected": (steps["logps/rejected_o"] - steps["logps/rejected_b"]).abs().max(),
            "scale": steps["logps/chosen_b"].abs().mean(),
            "ratio": (ratio.median(), ratio.quantile(0.05), ratio.quantile(0.95)),
            "loss_base": (steps["loss_b"].min(), steps["loss_b"].max()),
            "loss_other": (steps["loss_o"].min(), steps["loss_o"].max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True, help="a bench or tuning directory")
    ap.add_argument("--preset", default="mixed")
    ap.add_argument("--against", required=True, help="the unit directory name of the baseline")
    ap.add_argument("--losses", required=True, help="comma-separated unit directory names")
    args = ap.parse_args()
    root = Path(args.bench) / "units" / args.preset
    print(f"Training runs against `{args.against}` ({root}), per seed: largest gap of the logged "
          "batch log-likelihoods (nats; the batch's mean |log p(chosen)| beside it), gradient-"
          "norm ratio (median [5%, 95%] over steps) and each loss's logged range.\n")
    print("| loss | seed | steps | max Δ log p(chosen) | max Δ log p(rejected) | "
          "mean \\|log p\\| | grad-norm ratio | baseline loss | loss |")
    print("|---|---|---:|---:|---:|---:|---|---|---|")
    for name in args.losses.split(","):
        for unit in sorted((root / name).glob("seed-*/log.csv")):
            base_log = root / args.against / unit.parent.name / "log.csv"
            if not base_log.exists():
                continue
            g = trajectory_gap(pd.read_csv(base_log), pd.read_csv(unit))
            r, lb, lo = g["ratio"], g["loss_base"], g["loss_other"]
            print(f"| {name} | {unit.parent.name.split('-')[1]} | {g['steps']} | "
                  f"{g['chosen']:.2f} | {g['rejected']:.2f} | {g['scale']:.1f} | "
                  f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}] | {lb[0]:.3f}–{lb[1]:.3f} | "
                  f"{lo[0]:.3g}–{lo[1]:.3g} |")


if __name__ == "__main__":
    main()
