"""One ES fitness evaluation: train and evaluate 32 MPO losses on a 5120-pair Hopper dataset.

The 32 losses are an antithetic OpenAI-ES population around the DPO point (σ = 0.1), trained
population-batched with the default TrainConfig and scored with 10 episodes each. Prints wall
time per phase and the process's peak resident memory. Targets: <= 180 s, < 4 GiB.

    python benchmarks/bench_fitness.py --data runs/suite/hopper/noisy-20
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from mirrorpo.assets import load_reference, load_suite_info
from mirrorpo.data.dataset import load_dataset
from mirrorpo.envs import get_spec
from mirrorpo.evaluation import score_population
from mirrorpo.losses.mpo import MPOLoss, dpo_point, from_vector, to_vector
from mirrorpo.training.population import TrainConfig, train_population


def es_population(family: str, size: int, sigma: float, seed: int) -> list[MPOLoss]:
    centre = to_vector(dpo_point(), family)
    eps = np.random.default_rng(seed).normal(size=(size // 2, len(centre)))
    eps = np.concatenate([eps, -eps])
    return [MPOLoss(family, from_vector(centre + sigma * e, family)) for e in eps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--family", default="mpo", choices=["mpo", "ta-mpo"])
    ap.add_argument("--episodes", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    env = ds.card["env"]
    ref, info, spec = load_reference(env), load_suite_info(env), get_spec(env)
    losses = es_population(args.family, args.members, 0.1, 0)
    cfg = TrainConfig()
    t1 = time.perf_counter()
    res = train_population(ref, ds.arrays, losses, [0] * len(losses), cfg)
    t2 = time.perf_counter()
    scores = score_population(spec, res.policy.to_stack(), info.random_return,
                              info.expert_return, episodes=args.episodes, seed=600_000)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    s = np.array([x.sampled_mean for x in scores])
    print(f"{env} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs, H="
          f"{ds.card['horizon']}; {args.members} {args.family} losses × {cfg.steps} steps × "
          f"{cfg.batch_pairs} pairs, {args.episodes} episodes each")
    print(f"  load {t1 - t0:.1f} s, train {t2 - t1:.1f} s, evaluate {t3 - t2:.1f} s, "
          f"total {t3 - t0:.1f} s (target <= 180 s)")
    print(f"  peak memory {peak:.2f} GiB (target < 4 GiB); failed members "
          f"{int(res.failed.sum())}; scores mean {s.mean():.1f}, best {s.max():.1f}")


if __name__ == "__main__":
    main()
