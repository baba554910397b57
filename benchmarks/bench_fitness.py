"""One ES fitness evaluation: train and evaluate 32 MPO losses on a 5120-pair Hopper dataset.

The 32 losses are an antithetic OpenAI-ES population around the DPO point (σ = 0.1), trained
population-batched with the default TrainConfig and scored with 10 episodes each. Prints wall
time per phase and the process's peak resident memory. Targets (issue 17): <= 60 s, < 4 GiB.
With ``--before`` the same evaluation first runs with the trainer before issue 17
(benchmarks/population_before.py) and the ratio of the two wall times is printed: run it on an
otherwise idle machine (the two runs are minutes apart, so load changes between them count).
With ``--off OPTION`` (``skip_padding`` or ``stack_losses``) today's trainer also runs with that
TrainConfig option off, and the members' paired score differences (95% t interval) and the
rank correlation of the two runs' scores are printed: the fitness-level check that an option
which changes rounding leaves the search's ranking alone.

    python benchmarks/bench_fitness.py --data runs/suite/hopper/noisy-20 [--before]
    python benchmarks/bench_fitness.py --data runs/suite/hopper/noisy-20 --off stack_losses
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from mirrorpo.assets import load_reference, load_suite_info
from mirrorpo.data.dataset import load_dataset
from mirrorpo.envs import get_spec
from mirrorpo.evaluation import score_population
from mirrorpo.losses.mpo import MPOLoss, dpo_point, from_vector, to_vector
from mirrorpo.training.population import TrainConfig


def es_population(family: str, size: int, sigma: float, seed: int) -> list[MPOLoss]:
    centre = to_vector(dpo_point(), family)
    eps = np.random.default_rng(seed).normal(size=(size // 2, len(centre)))
    eps = np.concatenate([eps, -eps])
    return [MPOLoss(family, from_vector(centre + sigma * e, family)) for e in eps]


def fitness_evaluation(module, ref, info, spec, arrays, losses, episodes: int,
                       steps: int, **options) -> dict:
    """One fitness evaluation with ``module``'s trainer: wall times and scores."""
    t0 = time.perf_counter()
    res = module.train_population(ref, arrays, losses, [0] * len(losses),
                                  module.TrainConfig(steps=steps, **options))
    t1 = time.perf_counter()
    scores = score_population(spec, res.policy.to_stack(), info.random_return,
                              info.expert_return, episodes=episodes, seed=600_000)
    t2 = time.perf_counter()
    return {"train": t1 - t0, "evaluate": t2 - t1, "total": t2 - t0,
            "failed": int(np.asarray(res.failed).sum()),
            "scores": np.array([x.sampled_mean for x in scores])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--family", default="mpo", choices=["mpo", "ta-mpo"])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=TrainConfig().steps, help="(smoke runs)")
    ap.add_argument("--before", action="store_true",
                    help="also run the trainer before issue 17 and print the ratio")
    ap.add_argument("--off", choices=("skip_padding", "stack_losses"),
                    help="also run today's trainer with this option off; print the members' "
                         "paired score differences and the rank correlation")
    args = ap.parse_args()
    from mirrorpo.training import population as today

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    env = ds.card["env"]
    ref, info, spec = load_reference(env), load_suite_info(env), get_spec(env)
    losses = es_population(args.family, args.members, 0.1, 0)
    print(f"{env} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs, H="
          f"{ds.card['horizon']}; {args.members} {args.family} losses × "
          f"{args.steps} steps × {TrainConfig().batch_pairs} pairs, {args.episodes} "
          f"episodes each, {args.threads} threads (load {time.perf_counter() - t0:.1f} s)")
    runs = []
    if args.before:
        sys.path.insert(0, str(Path(__file__).parent))
        import population_before

        runs.append(("before issue 17", population_before, {}))
    if args.off:
        runs.append((f"{args.off} off", today, {args.off: False}))
    runs.append(("today", today, {}))
    got = {}
    for name, module, options in runs:
        r = got[name] = fitness_evaluation(module, ref, info, spec, ds.arrays, losses,
                                           args.episodes, args.steps, **options)
        print(f"  {name:16s} train {r['train']:6.1f} s, evaluate {r['evaluate']:5.1f} s, "
              f"total {r['total']:6.1f} s (target <= 60 s); failed {r['failed']}; scores "
              f"mean {r['scores'].mean():.1f}, best {r['scores'].max():.1f}")
    if args.before:
        a, b = got["before issue 17"], got["today"]
        print(f"  ratio before/today: total {a['total'] / b['total']:.2f}x, train "
              f"{a['train'] / b['train']:.2f}x")
    if args.off:
        a, b = got[f"{args.off} off"]["scores"], got["today"]["scores"]
        d = b - a
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        rho = stats.spearmanr(a, b).statistic
        print(f"  {args.off} on − off, paired over {len(d)} members: {d.mean():+.2f} "
              f"[{d.mean() - half:+.2f}, {d.mean() + half:+.2f}] (95% t); identical scores "
              f"{int((d == 0).sum())}; Spearman rank correlation {rho:.3f}; best member "
              f"{int(np.argmax(a))} (off) vs {int(np.argmax(b))} (on)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    print(f"  peak memory {peak:.2f} GiB (target < 4 GiB)")


if __name__ == "__main__":
    main()
