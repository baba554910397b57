"""Time `data make` of a 5120-pair Hopper dataset (issue 2 target: <= 120 s at H = 100).

    python benchmarks/bench_data.py --env hopper --preset noisy-20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mirrorpo.data.dataset import save_dataset
from mirrorpo.data.generate import load_suite_context, make_dataset
from mirrorpo.data.presets import get_preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--preset", default="noisy-20")
    ap.add_argument("--pairs", type=int, default=5120)
    ap.add_argument("--horizon", type=int, default=100)
    args = ap.parse_args()
    ctx = load_suite_context(args.env)
    t = time.perf_counter()
    ds = make_dataset(ctx, get_preset(args.preset), num_pairs=args.pairs,
                      horizon=args.horizon, seed=0)
    t_make = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        save_dataset(Path(d) / "ds", ds.arrays, ds.card)
        t_save = time.perf_counter() - t
    steps = ds.card["properties"]["candidates"] * 2 * args.horizon
    print(f"{args.env} {args.preset}: {args.pairs} pairs × H={args.horizon}")
    print(f"  generate {t_make:.1f} s (~{steps / t_make:.0f} segment env-steps/s), "
          f"save {t_save:.1f} s, total {t_make + t_save:.1f} s (target <= 120 s)")


if __name__ == "__main__":
    main()
