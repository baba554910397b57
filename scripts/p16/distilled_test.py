"""The distilled loss's suite test (docs/protocols/distilled-suite.md), after its rule ran.

    python scripts/p16/distilled_test.py --tree DIR          # the plan: what is missing
    python scripts/p16/distilled_test.py --tree DIR --run    # run it (every step resumes)

Needs runs/p16/distilled/distilled.json (`python scripts/p16/distill.py`), the loss registered
as `distilled` in the code tree DIR (a worktree of the commit that registers it), and the
fresh draws of `distilled.sh`. Per target: `mirrorpo tune --losses distilled` on the target's
tuning draws (β over DPO's grid, DPO's budget), the rule's file written at the tuned β
(runs/p16/distilled/<target>.json, its `fitted_on` kept), and `mirrorpo confirm` of it against
the round's tuned baselines of the target on draws s200-s209, 3 seeds, at its tuned learning
rate and length. Then the verdicts, Holm over the protocol's 20 comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path("/work/main")
R = Path("runs/p16")
G = R / "generalist"
OUT = R / "distilled"
FAMILY_SIZE = 20  # 5 targets × 4 tuned baselines
TARGETS = {  # target → (tuning draws, the round's tuned.json)
    "hopper mixed": ([R / f"hopper-mixed/pool/s{s}" for s in (0, 1)],
                     R / "hopper-mixed/tune/tuned.json"),
    "walker2d mixed": ([R / f"walker2d-mixed/pool/s{s}" for s in (0, 1)],
                       R / "walker2d-mixed/tune/tuned.json"),
    "hopper noisy-30": ([R / f"hopper-noisy-30/pool/s{s}" for s in (0, 1)],
                        R / "hopper-noisy-30/tune/tuned.json"),
    "hopper stochastic": ([G / f"tune-data/hopper-stochastic-s{s}" for s in (0, 1)],
                          G / "tune-hopper/tuned.json"),
    "halfcheetah mixed": ([G / f"tune-data/halfcheetah-mixed-s{s}" for s in (0, 1)],
                          G / "tune-halfcheetah/tuned.json"),
}


def slug(target: str) -> str:
    return target.replace(" ", "-")


def draws(target: str) -> list[Path]:
    return [OUT / "test" / f"{slug(target)}-s{s}" for s in range(200, 210)]


def mp(tree: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{tree}/src"}
    subprocess.run([sys.executable, "-c", "from mirrorpo.cli import main; main()", *args],
                   check=True, env=env, cwd=ROOT)


def candidate(target: str, tuned: dict) -> Path:
    """The rule's loss file at the target's tuned β (its other coordinates and fitted_on kept)."""
    sys.path.insert(0, str(ROOT / "src"))
    from mirrorpo.losses.mpo import load_mpo, with_coordinates
    from mirrorpo.losses.resolve import parse_hparams

    spec = tuned["choices"]["distilled"]["spec"]  # "distilled:beta=…"
    beta = parse_hparams(spec.split(":", 1)[1], spec)["beta"]
    loss = with_coordinates(load_mpo(OUT / "distilled.json"), {"beta": beta}, "distilled")
    path = OUT / f"{slug(target)}.json"
    loss.save(path)
    return path


def step(target: str, tree: str, run: bool) -> Path | None:
    """Tune and confirm one target; the confirmation's directory when it has finished."""
    data, base_tuned = TARGETS[target]
    missing = [str(p) for p in [*data, base_tuned, *draws(target)]
               if not (p if p.suffix else p / "card.json").is_file()]
    if missing:
        print(f"{target}: waiting for {', '.join(missing)}")
        return None
    tune_dir, confirm_dir = OUT / f"tune-{slug(target)}", OUT / f"confirm-{slug(target)}"
    print(f"{target}: tune {tune_dir}, confirm {confirm_dir}")
    if not run:
        return None
    mp(tree, "tune", "--losses", "distilled", "--data", ",".join(map(str, data)),
       "--val-seeds", "2", "--out", str(tune_dir), "--threads", "1")
    tuned = json.loads((tune_dir / "tuned.json").read_text())
    choice = tuned["choices"]["distilled"]
    mp(tree, "confirm", "--target", target, "--candidates", str(candidate(target, tuned)),
       "--tuned", str(base_tuned), "--draws", ",".join(map(str, draws(target))),
       "--seeds", "3", "--episodes", "10", "--candidate-steps", str(choice["steps"]),
       "--candidate-learning-rate", repr(choice["learning_rate"]), "--no-controls",
       "--out", str(confirm_dir), "--threads", "1")
    return confirm_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="code tree with the `distilled` loss")
    ap.add_argument("--run", action="store_true", help="run it (else: plan only)")
    a = ap.parse_args()
    os.chdir(ROOT)
    if not (OUT / "distilled.json").is_file():
        sys.exit(f"no {OUT}/distilled.json: run scripts/p16/distill.py after the follow-ups")
    done = [d for t in TARGETS if (d := step(t, a.tree, a.run))]
    if len(done) == len(TARGETS):
        mp(a.tree, "verdicts", *map(str, done), "--family-size", str(FAMILY_SIZE),
           "--out", str(OUT / "verdicts.md"))


if __name__ == "__main__":
    main()
