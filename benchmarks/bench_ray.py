"""Ray backend overhead: one ES generation's fitness, in-process against Ray workers.

The same 32 MPO candidates (an antithetic population around the DPO point, σ = 0.1) are
scored by ``make_fitness`` with the in-process backend (one population, 2 torch threads) and
with a local Ray instance of 2 one-CPU workers (two shards of 16 members). Ray's start-up
(cluster, worker processes, shipping the dataset) is timed apart: it is paid once per search,
not per generation. The fitness values must agree exactly. Target: Ray per-generation time at
most 1.10 × in-process.

    python benchmarks/bench_ray.py --data runs/suite/hopper/noisy-20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import FitnessContext, FitnessSetup, InProcess, make_fitness
from mirrorpo.discovery.ray_backend import RayBackend
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.training.population import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--popsize", type=int, default=32)
    ap.add_argument("--steps", type=int, default=TrainConfig().steps)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = load_dataset(args.data)
    env = ds.card["env"]
    ctx = FitnessContext(FitnessSetup("mpo", train=TrainConfig(steps=args.steps)),
                         load_reference(env), (ds.arrays,),
                         NormalisedScorer.for_env(env, args.episodes, mean_action=False))
    x0 = to_vector(dpo_point(), "mpo")
    eps = np.random.default_rng(0).standard_normal((args.popsize // 2, x0.size))
    x = x0 + 0.1 * np.concatenate([eps, -eps])

    t0 = time.perf_counter()
    local = make_fitness(ctx, InProcess(ctx))(x, 0)
    t_local = time.perf_counter() - t0

    t0 = time.perf_counter()
    backend = RayBackend(ctx, num_cpus=args.workers)
    warm = make_fitness(ctx, backend)  # its first call also starts the worker processes
    t_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        first = warm(x, 0)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        remote = warm(x, 0)
        t_ray = time.perf_counter() - t0
    finally:
        backend.close()
    print(f"{env} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs; {args.popsize} "
          f"MPO candidates × {args.steps} steps, {args.episodes} episodes; "
          f"Ray {backend.workers} workers × 1 CPU")
    print(f"  in-process      {t_local:7.1f} s")
    print(f"  Ray, cold       {t_first:7.1f} s  (+ {t_start:.1f} s cluster start)")
    print(f"  Ray, warm       {t_ray:7.1f} s")
    print(f"  ratio warm Ray / in-process: {t_ray / t_local:.3f} (target <= 1.10)")
    same = np.array_equal(local, remote) and np.array_equal(local, first)
    print(f"  identical fitness: {same}; mean {local.mean():.2f}, best {local.max():.2f}")


if __name__ == "__main__":
    main()
