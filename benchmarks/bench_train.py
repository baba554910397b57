"""Population-batched training vs training the same members one after another.

Times optimiser steps only (a short and a long run are differenced, so the one-off reference
log-likelihood pass and set-up cancel out), on a real dataset and the shipped reference.

    python benchmarks/bench_train.py --data runs/suite/hopper/noisy-20 --members 32
"""

from __future__ import annotations

import argparse
import time

import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.losses import get_loss
from mirrorpo.train.population import TrainConfig, train_population


def seconds_per_step(ref, arrays, members: int, batch: int, short: int, long: int) -> float:
    losses = [lambda b: get_loss("dpo")(b)] * members
    train_population(ref, arrays, losses, list(range(members)),  # warm-up
                     TrainConfig(steps=2, batch_pairs=batch))
    times = []
    for steps in (short, long):
        t = time.perf_counter()
        train_population(ref, arrays, losses, list(range(members)),
                         TrainConfig(steps=steps, batch_pairs=batch))
        times.append(time.perf_counter() - t)
    return (times[1] - times[0]) / (long - short)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--batch-pairs", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    ref = load_reference(ds.card["env"])
    one = seconds_per_step(ref, ds.arrays, 1, args.batch_pairs, 10, 110)
    pop = seconds_per_step(ref, ds.arrays, args.members, args.batch_pairs, 3, 13)
    print(f"{ds.card['env']} {ds.card['preset']}: {args.batch_pairs} pairs × H="
          f"{ds.card['horizon']} per member-step, {args.threads} threads")
    print(f"  1 member        : {one * 1e3:8.1f} ms/step")
    print(f"  {args.members} members batched: {pop * 1e3:8.1f} ms/step "
          f"(sequential would be {one * args.members * 1e3:.0f} ms)")
    print(f"  speed-up {one * args.members / pop:.2f}x (target >= 8x)")


if __name__ == "__main__":
    main()
