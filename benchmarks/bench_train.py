"""Population-batched training vs training the same members one after another.

Each optimiser step is timed from the trainer's progress callback (median over steps after a
warm-up), so set-up (loading, the reference log-likelihood pass) is excluded from both sides.
"Sequential" is the same trainer run with one member, 32 times: its cost per step times 32.
The ratio is printed for several per-member batch sizes in one run.

    python benchmarks/bench_train.py --data runs/suite/hopper/noisy-20 --members 32
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.losses import get_loss
from mirrorpo.training.population import TrainConfig, train_population


def step_seconds(ref, arrays, members: int, batch: int, steps: int) -> float:
    """Median wall time of one optimiser step of a population of ``members``."""
    stamps: list[float] = []
    dpo = get_loss("dpo")
    train_population(ref, arrays, [dpo] * members, list(range(members)),
                     TrainConfig(steps=steps, batch_pairs=batch),
                     progress=lambda n: stamps.append(time.perf_counter()))
    return float(np.median(np.diff(stamps)[2:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--batch-pairs", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    ref = load_reference(ds.card["env"])
    mean_len = ds.card["properties"]["mean_segment_length"]
    print(f"{ds.card['env']} {ds.card['preset']}: H={ds.card['horizon']} (mean valid length "
          f"{mean_len:.0f}), {args.members} members, {args.threads} threads")
    print(f"{'pairs/member-step':>18} {'1 member':>10} {'sequential':>11} {'batched':>9} "
          f"{'speed-up':>9}")
    for b in args.batch_pairs:
        one = step_seconds(ref, ds.arrays, 1, b, 40)
        pop = step_seconds(ref, ds.arrays, args.members, b, 12)
        print(f"{b:>18} {one * 1e3:>8.1f}ms {one * args.members * 1e3:>9.0f}ms "
              f"{pop * 1e3:>7.0f}ms {one * args.members / pop:>8.2f}x")
    print("target: >= 8x")


if __name__ == "__main__":
    main()
