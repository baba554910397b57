"""Rebuild the HalfCheetah suite (v2): a ladder of training checkpoints only, and its reference.

Suite v1's two lowest HalfCheetah rungs were the expert with action noise injected
(``+std0.6``, ``+std0.2``), so in ``mixed`` the better segment of a pair was mostly the expert's
mean plus noise. v2 takes every rung from PPO training checkpoints and none from noise-injected
copies (``build_ladder(noise_stds=())``). The low rungs come from a new run checkpointed every
5,000 env steps, whose early checkpoints cover the low scores; v1's checkpoint rungs (its
50k, 100k, 350k and 600k checkpoints, the 600k one being the expert) join the candidates, so
the expert and R_random stay v1's and the score scale stays close to v1's (R_expert is
re-measured). The reference follows v1's rule (behaviour cloning of the checkpoint rung
scoring nearest 50), which on this ladder is a lower rung than v1's, so its sampled and
mean-action scores stay well below the top rungs. What was run, with wall times, is in
docs/suite.md ("HalfCheetah suite v2"); the commands as run (the PPO run was stopped by hand
at 95,000 env steps, and the ladder used its checkpoints up to 80,000):

    V1=38bc998:src/mirrorpo/assets/halfcheetah    # the last commit with suite v1
    git show $V1/ladder.safetensors > runs/halfcheetah-v2/v1-ladder.safetensors
    git show $V1/suite.json > runs/halfcheetah-v2/v1-suite.json
    python scripts/rebuild_halfcheetah.py export-v1 --v1 runs/halfcheetah-v2/v1 \
        --extra runs/halfcheetah-v2/v1-ckpts
    python scripts/rebuild_halfcheetah.py train --run-dir runs/halfcheetah-v2/ppo-seed0 \
        --steps 95000
    python scripts/rebuild_halfcheetah.py ladder --run-dir runs/halfcheetah-v2/ppo-seed0 \
        --max-steps 80000 --extra runs/halfcheetah-v2/v1-ckpts --out runs/halfcheetah-v2/assets
    MIRRORPO_ASSETS=runs/halfcheetah-v2/assets mirrorpo reference train --env halfcheetah \
        --level 2 --episodes 100 --out runs/halfcheetah-v2/assets/halfcheetah
    cp runs/halfcheetah-v2/assets/halfcheetah/* src/mirrorpo/assets/halfcheetah/

``train`` resumes from ``resume.pt`` when the run directory holds one (same seed and
checkpoint spacing; a larger ``--steps`` continues it). Every step runs single-threaded torch,
as ``mirrorpo experts train`` does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ENV = "halfcheetah"
SUITE_VERSION = 2
CHECKPOINT_EVERY = 5_000
TOTAL_STEPS = 600_000
"""Default length of the new run; see docs/suite.md for where it was stopped."""


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def train(run_dir: Path, steps: int, seed: int) -> None:
    from mirrorpo.experts import RESUME_FILE, train_expert

    train_expert(ENV, run_dir, seed=seed, total_env_steps=steps,
                 checkpoint_every_steps=CHECKPOINT_EVERY,
                 resume=(run_dir / RESUME_FILE).exists(), log=log)


def export_v1(v1: Path, extra: Path) -> None:
    """v1's checkpoint rungs (sources without ``+std``) as ``v1run-ckpt_<steps>.safetensors``
    in ``extra``, from a v1 ``ladder.safetensors`` / ``suite.json`` pair named ``V1-ladder...``
    and ``V1-suite.json``."""
    import json

    from mirrorpo.policies import load_policies, save_policies

    stack, _ = load_policies(Path(f"{v1}-ladder.safetensors"))
    suite = json.loads(Path(f"{v1}-suite.json").read_text())
    extra.mkdir(parents=True, exist_ok=True)
    for level in suite["ladder"]:
        if "+std" in level["source"]:
            continue
        path = extra / f"v1run-{level['source']}"
        save_policies(path, stack.select(level["level"]),
                      {"env": ENV, "env_steps": level["env_steps"], "seed": 0,
                       "run": "suite v1 expert run (checkpoints every 50000 env steps)"})
        log(f"{path}: v1 level {level['level']}, score {level['score']:.1f}")


def ladder(run_dir: Path, extra: Path | None, out: Path, seed: int,
           max_steps: int | None) -> None:
    from mirrorpo.assets import LADDER_FILE, SUITE_VERSION_KEY, write_suite_info
    from mirrorpo.experts import build_ladder
    from mirrorpo.policies import save_policies

    ckpts = sorted(run_dir.glob("ckpt_*.safetensors"))
    if max_steps is not None:
        ckpts = [p for p in ckpts if int(p.stem.removeprefix("ckpt_")) <= max_steps]
    last = max(int(p.stem.removeprefix("ckpt_")) for p in ckpts)
    if extra is not None:
        ckpts += sorted(extra.glob("*.safetensors"))
    t0 = time.time()
    stack, suite = build_ladder(ENV, ckpts, seed=seed, noise_stds=(), log=log)
    suite[SUITE_VERSION_KEY] = SUITE_VERSION
    suite["expert_training"] = {
        **suite["expert_training"],
        "checkpoint_every_steps": CHECKPOINT_EVERY, "stopped_at_env_steps": last, "seed": seed,
        "note": "suite v2, built by scripts/rebuild_halfcheetah.py: a ladder of training "
                "checkpoints only (no noise-injected copies). Candidates: every checkpoint "
                f"of a new run up to {last} env steps (seed {seed}, checkpoints every 5000 "
                "env steps; sources ckpt_*) and the checkpoint rungs "
                "of suite v1's expert run (sources v1run-ckpt_*; its 600k checkpoint is the "
                "v1 expert, trained with the settings above, stopped at 650k steps)",
    }
    root = out / ENV
    root.mkdir(parents=True, exist_ok=True)
    save_policies(root / LADDER_FILE, stack, {"env": ENV, "levels": suite["ladder"]})
    write_suite_info(ENV, suite, root)
    log(f"ladder of {len(ckpts)} checkpoints written to {root} in {time.time() - t0:.0f} s")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("export-v1", "train", "ladder"))
    parser.add_argument("--run-dir", type=Path, default=Path("runs/halfcheetah-v2/ppo-seed0"))
    parser.add_argument("--out", type=Path, default=Path("runs/halfcheetah-v2/assets"),
                        help="asset root; the ladder goes to OUT/halfcheetah")
    parser.add_argument("--extra", type=Path, default=None,
                        help="more candidate checkpoints (export-v1 writes v1's there)")
    parser.add_argument("--v1", type=Path, default=Path("runs/halfcheetah-v2/v1"),
                        help="prefix of v1's ladder and suite.json (V1-ladder.safetensors, "
                             "V1-suite.json)")
    parser.add_argument("--steps", type=int, default=TOTAL_STEPS)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="ladder: only the run's checkpoints up to this many env steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "export-v1":
        export_v1(args.v1, args.extra or Path("runs/halfcheetah-v2/v1-ckpts"))
    elif args.step == "train":
        train(args.run_dir, args.steps, args.seed)
    else:
        ladder(args.run_dir, args.extra, args.out, args.seed, args.max_steps)


if __name__ == "__main__":
    main()
