"""How well segment returns of horizon H separate the ladder levels, per environment.

Start states are drawn as `mirrorpo data make` draws them (states the reference visits before
termination); every ladder level plays H steps from the same states with sampled actions. The
table shows, per H, the mean segment return per level and how often a stronger level beats a
weaker one from the same state — the rational teacher's view of the ladder. It justifies each
env's default horizon (mirrorpo.envs.EnvSpec.segment_horizon; see docs/suite.md).

    python scripts/horizon_check.py --envs hopper halfcheetah walker2d ant --horizons 100 300
"""

from __future__ import annotations

import argparse

import numpy as np

from mirrorpo.data.generate import load_suite_context, start_state_pool
from mirrorpo.evaluation import grouped_actor
from mirrorpo.rollout import run_rollouts


def check(env: str, horizons: list[int], starts: int, seed: int) -> None:
    ctx = load_suite_context(env)
    qpos, qvel = start_state_pool(ctx, 16, np.random.SeedSequence(seed))
    pick = np.random.default_rng(seed).integers(0, len(qpos), starts)
    n_levels = ctx.ladder.size
    level = np.repeat(np.arange(n_levels), starts)
    q, v = np.tile(qpos[pick], (n_levels, 1)), np.tile(qvel[pick], (n_levels, 1))
    print(f"\n{env}: {starts} start states from {len(qpos)} reference states")
    print("   H | mean segment return per level      | P(L5>L3) P(L4>L2) P(L3>L1) P(L2>L0)")
    for h in horizons:
        r = run_rollouts(ctx.spec, grouped_actor(ctx.ladder, level), q, v, h,
                         np.random.default_rng(seed + 1)).returns.reshape(n_levels, starts)
        wins = [(r[i + 2] > r[i]).mean() for i in (3, 2, 1, 0)]
        print(f"{h:4d} | {' '.join(f'{x:6.0f}' for x in r.mean(1))} | "
              + " ".join(f"{w:8.2f}" for w in wins))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["hopper", "halfcheetah", "walker2d", "ant"])
    ap.add_argument("--horizons", nargs="+", type=int, default=[100, 200, 300])
    ap.add_argument("--starts", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for env in args.envs:
        check(env, args.horizons, args.starts, args.seed)


if __name__ == "__main__":
    main()
