"""Ray and process backends: overhead against in-process fitness, and time against workers.

The same ES generation (an antithetic population of MPO candidates around the DPO point,
σ = 0.1) is scored by ``make_fitness`` in-process (one population, 2 torch threads) and with
a local Ray instance of W one-CPU workers (W shards), for each W of ``--workers`` (the cores
this machine has). Ray's start-up (cluster, worker processes, shipping the dataset) is timed
apart: it is paid once per search, not per generation. The fitness values must agree exactly.
Target: warm Ray per-generation time at most 1.10 × in-process. ``--processes`` times the
standard-library process backend the same way (``--backend processes``).

A cluster larger than this machine (``--simulate``, e.g. 4, 8, 16 one-CPU machines) cannot be
timed here, so it is predicted: the generation is split into those shards, each shard's
fitness (training and episodes, one torch thread, as a one-CPU Ray task runs it) is timed
alone, one after another, and the prediction is the slowest shard plus the per-generation Ray
overhead measured with the real workers (warm Ray time minus its slowest shard alone). It
ignores network transfer (the dataset is shipped once, at start-up) and machines slower than
this one.

    python benchmarks/bench_ray.py --data runs/suite/hopper/noisy-20 [--steps 200]
        [--workers 1,2] [--simulate 4,8,16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mirrorpo.assets import load_reference
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import (
    FitnessContext,
    FitnessSetup,
    InProcess,
    fitness_seeds,
    make_fitness,
    plan_shards,
    shard_scores,
)
from mirrorpo.discovery.ray_backend import RayBackend
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.training.population import TrainConfig


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def shard_times(ctx: FitnessContext, x: np.ndarray, workers: int) -> list[float]:
    """Seconds of each of the ``workers`` shards of generation 0, run alone on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    for shard in plan_shards(len(x), fitness_seeds(ctx.setup.fitness_seeds, 0, False), 1,
                             workers):
        t0 = time.perf_counter()
        shard_scores(ctx, x, shard)
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(before)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--popsize", type=int, default=32)
    ap.add_argument("--steps", type=int, default=TrainConfig().steps)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--workers", type=ints, default=[2],
                    help="real local Ray workers to time, comma-separated")
    ap.add_argument("--processes", type=ints, default=[2],
                    help="local worker processes (--backend processes) to time")
    ap.add_argument("--simulate", type=ints, default=[],
                    help="larger clusters (one-CPU machines) to predict, comma-separated")
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
    print(f"{env} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs; {args.popsize} "
          f"MPO candidates × {args.steps} steps, {args.episodes} episodes")

    t0 = time.perf_counter()
    local = make_fitness(ctx, InProcess(ctx))(x, 0)
    t_local = time.perf_counter() - t0
    print(f"  in-process (2 threads)   {t_local:7.1f} s per generation")
    rows = [("in-process, 2 threads", "measured", t_local)]
    overheads = []
    for w in args.workers:
        t0 = time.perf_counter()
        backend = RayBackend(ctx, num_cpus=w)
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
        alone = shard_times(ctx, x, w)
        overheads.append(t_ray - max(alone))
        same = np.array_equal(local, remote) and np.array_equal(local, first)
        print(f"  Ray {w} worker(s): cold {t_first:.1f} s (+ {t_start:.1f} s cluster start), "
              f"warm {t_ray:.1f} s; ratio warm / in-process {t_ray / t_local:.3f} (target <= "
              f"1.10); slowest shard alone {max(alone):.1f} s, overhead {overheads[-1]:+.1f} s; "
              f"identical fitness: {same}")
        rows.append((f"Ray, {w} one-CPU worker(s)", "measured (warm)", t_ray))
    from mirrorpo.discovery.process_backend import ProcessBackend

    for w in args.processes:
        t0 = time.perf_counter()
        backend = ProcessBackend(ctx, w)
        try:
            first = make_fitness(ctx, backend)(x, 0)  # also starts the workers
            t_first = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = make_fitness(ctx, backend)(x, 0)
            t_warm = time.perf_counter() - t0
        finally:
            backend.close()
        same = np.array_equal(local, first) and np.array_equal(local, again)
        print(f"  {w} worker process(es): first {t_first:.1f} s (with start-up), warm "
              f"{t_warm:.1f} s; ratio warm / in-process {t_warm / t_local:.3f}; identical "
              f"fitness: {same}")
        rows.append((f"processes, {w} one-thread workers", "measured (warm)", t_warm))
    overhead = float(np.median(overheads)) if overheads else 0.0
    for w in args.simulate:
        alone = shard_times(ctx, x, w)
        pred = max(alone) + max(overhead, 0.0)
        print(f"  {w} one-CPU machines: shards alone {min(alone):.1f}–{max(alone):.1f} s, "
              f"predicted {pred:.1f} s per generation")
        rows.append((f"Ray, {w} one-CPU machines", "predicted", pred))
    print("\n| backend | how | s per generation | vs in-process |\n|---|---|---|---|")
    for name, how, t in rows:
        print(f"| {name} | {how} | {t:.1f} | {t_local / t:.2f}× |")
    print(f"\nfitness mean {local.mean():.2f}, best {local.max():.2f}")


if __name__ == "__main__":
    main()
