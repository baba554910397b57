"""The HalfCheetah `mixed` baselines by the rule registered in
docs/protocols/halfcheetah-mixed-mpo.md ("Which baselines"): DPO and the three best other
losses by test mean of the v2 bench on the seed-0 draw, ties to the higher lower CI bound;
`reference` and `sft` are not baselines. Prints the amendment's line and the table it used,
so the choice is mechanical:

    python scripts/p16/halfcheetah_baselines.py [runs/p16/halfcheetah-mixed/bench/summary.csv]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

NOT_BASELINES = {"reference", "sft"}


def registry_name(label: str) -> str:
    """The bench's loss label (e.g. ``dpo:``, ``cdpo:label_smoothing=0.1``) → its registry
    name (``dpo``, ``cdpo``)."""
    return label.split(":")[0]


def choose(rows: list[dict], k: int = 3) -> list[str]:
    """DPO and the ``k`` other losses with the highest test mean (ties: higher lower CI)."""
    others = [r for r in rows if registry_name(r["loss"]) not in NOT_BASELINES | {"dpo"}]
    others.sort(key=lambda r: (float(r["mean"]), float(r["mean_ci_low"])), reverse=True)
    return ["dpo"] + [registry_name(r["loss"]) for r in others[:k]]


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1
                else "runs/p16/halfcheetah-mixed/bench/summary.csv")
    rows = [r for r in csv.DictReader(path.open()) if r["preset"] == "mixed"]
    names = choose(rows)
    print(f"baselines named: {','.join(names)}")
    print(f"\nfrom {path} (test mean [95% CI], by mean):")
    for r in sorted(rows, key=lambda r: float(r["mean"]), reverse=True):
        print(f"  {r['loss']:24s} {float(r['mean']):6.1f} [{float(r['mean_ci_low']):.1f}, "
              f"{float(r['mean_ci_high']):.1f}]")


if __name__ == "__main__":
    main()
