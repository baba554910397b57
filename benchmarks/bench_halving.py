"""Successive halving's cost per generation (issue 17, item 2): one ES generation's fitness with
and without ``halving_rungs``, side by side in one process.

The same population (an antithetic OpenAI-ES population of 2·(popsize/2) MPO candidates
around the DPO point, σ = 0.1), the same fitness seeds and dataset; only the halving rungs
differ. Repeats alternate the order, so load hits both alike; the ratio of median wall times is
printed. What halving does to the *result* of a search (the meta-test score of its best loss) is
measured apart, by the two 12-generation searches of scripts/p16/queue.sh (step 1b) and their
rows in the Hopper mixed confirmation.

    python benchmarks/bench_halving.py --data runs/p16/hopper-mixed/pool/s0 \
        [--rungs 250,500] [--halving-episodes 5] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import FitnessContext, FitnessSetup, InProcess, make_fitness
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.training.population import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--popsize", type=int, default=16)
    ap.add_argument("--fitness-seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=TrainConfig().steps)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--rungs", default="250,500")
    ap.add_argument("--halving-episodes", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    env = ds.card["env"]
    plain = FitnessSetup("mpo", fitness_seeds=args.fitness_seeds, reseed=True,
                         train=TrainConfig(steps=args.steps), episodes=args.episodes)
    setups = {"plain": plain,
              "halving": replace(plain, halving_rungs=tuple(int(r) for r in args.rungs.split(",")),
                                 halving_episodes=args.halving_episodes)}
    x0 = to_vector(dpo_point(), "mpo")
    eps = np.random.default_rng(0).standard_normal((args.popsize // 2, x0.size))
    x = x0 + 0.1 * np.concatenate([eps, -eps])
    print(f"{env} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs; {len(x)} MPO "
          f"candidates × {args.fitness_seeds} fitness seeds × {args.steps} steps, "
          f"{args.episodes} episodes; halving rungs {args.rungs} ({args.halving_episodes} "
          f"episodes at a rung); {args.threads} torch thread(s)")
    times = {k: [] for k in setups}
    fitness = {}
    for r in range(args.repeats):
        for kind in (list(setups) if r % 2 == 0 else list(setups)[::-1]):
            ctx = FitnessContext(setups[kind], load_reference(env), (ds.arrays,),
                                 NormalisedScorer.for_env(env, args.episodes, mean_action=False))
            t0 = time.perf_counter()
            fitness[kind] = make_fitness(ctx, InProcess(ctx))(x, 0)
            times[kind].append(time.perf_counter() - t0)
            print(f"  repeat {r}: {kind:8s} {times[kind][-1]:7.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in setups:
        f = np.asarray(fitness[k])
        print(f"  {k:8s} median {med[k]:7.1f} s per generation; fitness best {f.max():.1f}, "
              f"mean {f.mean():.1f}")
    print(f"  plain / halving: {med['plain'] / med['halving']:.2f}x")


if __name__ == "__main__":
    main()
