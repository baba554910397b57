"""How a fitness evaluation's cost scales: training time per step against members, pairs per
step and segment length, and evaluation time per member, so a run can be sized before it
starts (docs/scaling.md).

Trains populations of MPO losses around DPO for a few steps after a warm-up (the per-step time
is then flat over training) and scores a population on real episodes. Extrapolate:
fitness ≈ steps × step time + members × episodes-cost.

    mirrorpo data make --env hopper --preset noisy-20 --pairs 5120 --out /tmp/ds-n20
    python benchmarks/scaling.py --data /tmp/ds-n20 [--members 8,16,32,64,128] [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import MPOLoss, dpo_point, from_vector, to_vector
from mirrorpo.training.population import TrainConfig, train_population


def losses(n: int, seed: int = 0) -> list[MPOLoss]:
    """``n`` MPO losses around the DPO point (as a search generation has)."""
    rng = np.random.default_rng(seed)
    x0 = to_vector(dpo_point(), "mpo")
    return [MPOLoss("mpo", from_vector(x0 + 0.1 * rng.standard_normal(x0.shape), "mpo"))
            for _ in range(n)]


def step_time(ref, arrays, members: int, batch_pairs: int, steps: int) -> float:
    """Median seconds per optimiser step after 2 warm-up steps."""
    stamps: list[float] = []
    cfg = TrainConfig(steps=steps + 2, batch_pairs=batch_pairs)
    train_population(ref, arrays, losses(members), list(range(members)), cfg,
                     progress=lambda n=1: stamps.append(time.perf_counter()))
    return float(np.median(np.diff(stamps[1:])))


def truncate(arrays: dict, horizon: int) -> dict:
    """The dataset with segments cut to ``horizon`` steps."""
    out = dict(arrays)
    for side in ("chosen", "rejected"):
        for key in ("obs", "actions", "rewards"):
            out[f"{side}_{key}"] = arrays[f"{side}_{key}"][:, :horizon]
        out[f"{side}_length"] = np.minimum(arrays[f"{side}_length"], horizon)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", default="8,16,32,64,128")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    env, arrays = ds.card["env"], ds.arrays
    ref = load_reference(env)
    print(f"{env} {ds.card['preset']}: {ds.num_pairs} pairs, H = {ds.horizon}, "
          f"{args.threads} threads")
    print("\n| members | pairs/step | H | s/step | 1000 steps |\n|---|---|---|---|---|")
    for m in map(int, args.members.split(",")):
        t = step_time(ref, arrays, m, 8, args.steps)
        print(f"| {m} | 8 | {ds.horizon} | {t:.3f} | {1000 * t:.0f} s |", flush=True)
    for b in (4, 16):
        t = step_time(ref, arrays, 32, b, args.steps)
        print(f"| 32 | {b} | {ds.horizon} | {t:.3f} | {1000 * t:.0f} s |", flush=True)
    for h in (100, 200):
        if h < ds.horizon:
            t = step_time(ref, truncate(arrays, h), 32, 8, args.steps)
            print(f"| 32 | 8 | {h} | {t:.3f} | {1000 * t:.0f} s |", flush=True)
    scorer = NormalisedScorer.for_env(env, 10, mean_action=False, nthread=args.threads)
    for m in (8, 32):
        stack = ref.repeat(m)
        t0 = time.perf_counter()
        scorer(stack, 700_000)
        dt = time.perf_counter() - t0
        print(f"\nevaluation, 10 episodes: {m} members in {dt:.1f} s ({dt / m:.2f} s per member)")


if __name__ == "__main__":
    main()
