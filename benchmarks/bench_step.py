"""Training step of one fitness evaluation: today's trainer vs the frozen pre-issue-17 one.

Runs, in one process and interleaved (old, padded, valid, new, old, ...), the
population-batched trainer of benchmarks/bench_fitness.py (32 MPO losses around DPO, default
TrainConfig) for a few steps with benchmarks/population_before.py (the code before issue 17's
speed-ups) and with mirrorpo.training.population: its padded rows (``skip_padding=False``,
meant to be bit-identical to the old code), the valid rows only with each loss called alone
(``stack_losses=False``), and the default (valid rows, the MPO losses in one stacked call),
and prints
the median wall time per optimiser step of each (from the progress callback, after a
warm-up), the set-up pass of reference
log-likelihoods of each, their ratios, and the process's peak resident memory. On a shared
machine the absolute times move with the load; the ratios of the interleaved runs are the
figures to quote. It also checks that the padded run gives the old parameters bit for bit,
and prints how far the valid-rows run's parameters are from them.

    mirrorpo data make --env hopper --preset noisy-20 --pairs 5120 --out /tmp/ds-n20
    python benchmarks/bench_step.py --data /tmp/ds-n20 [--members 32] [--steps 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import population_before as before  # noqa: E402
from bench_fitness import es_population  # noqa: E402

from mirrorpo.assets import load_reference  # noqa: E402
from mirrorpo.data.dataset import load_dataset  # noqa: E402
from mirrorpo.training import population as after  # noqa: E402


def run(module, ref, arrays, losses, steps: int,
        **options) -> tuple[float, float, list[torch.Tensor]]:
    """(median seconds per step, seconds of set-up incl. the reference pass, parameters)."""
    stamps = [time.perf_counter()]
    res = module.train_population(ref, arrays, losses, [0] * len(losses),
                                  module.TrainConfig(steps=steps, **options),
                                  progress=lambda n: stamps.append(time.perf_counter()))
    steps_s = np.diff(stamps[1:])[1:]  # drop the first step (warm-up)
    setup = stamps[1] - stamps[0] - float(np.median(steps_s))
    return float(np.median(steps_s)), setup, [p.detach() for p in res.policy.parameters()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--steps", type=int, default=12, help="steps per run (first is warm-up)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved old/new run pairs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    ref = load_reference(ds.card["env"])
    losses = es_population("mpo", args.members, 0.1, 0)
    print(f"{ds.card['env']} {ds.card['preset']}: {len(ds.arrays['chosen_length'])} pairs, "
          f"H={ds.card['horizon']} (mean valid length "
          f"{ds.card['properties']['mean_segment_length']:.0f}); {args.members} MPO losses, "
          f"{args.steps} steps × {args.repeats} repeats, {args.threads} threads")
    variants = (("old", before, {}),
                ("padded", after, {"skip_padding": False, "stack_losses": False}),
                ("valid", after, {"skip_padding": True, "stack_losses": False}),
                ("new", after, {"skip_padding": True, "stack_losses": True}))
    step = {name: [] for name, _, _ in variants}
    setup = {name: [] for name, _, _ in variants}
    same, diff = True, 0.0
    for r in range(args.repeats):
        got = {}
        for name, module, options in variants:
            s, u, got[name] = run(module, ref, ds.arrays, losses, args.steps, **options)
            step[name].append(s)
            setup[name].append(u)
        same &= all(torch.equal(a, b) for a, b in zip(got["old"], got["padded"], strict=True))
        diff = max([diff] + [float((a - b).abs().max())
                             for a, b in zip(got["old"], got["new"], strict=True)])
        print(f"  repeat {r}: step old {step['old'][-1] * 1e3:.0f} ms, padded "
              f"{step['padded'][-1] * 1e3:.0f} ms, new {step['new'][-1] * 1e3:.0f} ms "
              f"(old/new {step['old'][-1] / step['new'][-1]:.2f}); set-up old "
              f"{setup['old'][-1]:.2f} s, new {setup['new'][-1]:.2f} s")
    ratios = np.array(step["old"]) / np.array(step["new"])
    so, sn = np.median(step["old"]), np.median(step["new"])
    uo, un = np.median(setup["old"]), np.median(setup["new"])
    sp, sv = np.median(step["padded"]), np.median(step["valid"])
    print(f"padded rows (skip_padding=False): {sp * 1e3:.1f} ms/step, old/padded "
          f"{so / sp:.2f}x")
    per_loss = np.array(step["valid"]) / np.array(step["new"])
    print(f"valid rows, each loss called alone (stack_losses=False): {sv * 1e3:.1f} ms/step; "
          f"alone/stacked per repeat {', '.join(f'{r:.2f}' for r in per_loss)} (median "
          f"{np.median(per_loss):.2f}x)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    print(f"per step: old {so * 1e3:.1f} ms, new {sn * 1e3:.1f} ms; median of per-repeat "
          f"ratios {np.median(ratios):.2f}x (min {ratios.min():.2f}, max {ratios.max():.2f})")
    print(f"set-up (table, reference log-likelihoods): old {uo:.2f} s, new {un:.2f} s "
          f"({uo / un:.2f}x)")
    print(f"1000-step training estimate: old {uo + 1000 * so:.0f} s, new {un + 1000 * sn:.0f} s")
    print(f"parameters after {args.steps} steps: old vs padded bit-identical: {same}; old vs "
          f"new (valid rows only) max |difference| {diff:.2e}")
    print(f"peak memory {peak:.2f} GiB (target < 4 GiB)")


if __name__ == "__main__":
    main()
