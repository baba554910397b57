"""Does a trainer speed-up that changes rounding change a bench verdict?

Issue 17's speed-ups that are not bit-identical compute the same function as before with
other rounding: training on the valid rows only (TrainConfig.skip_padding,
tests/test_population_speed.py) and evaluating the MPO losses of all members in one stacked
call (TrainConfig.stack_losses, tests/test_mpo.py). Over 1000 steps ~1e-6 differences grow into
different policies, so single scores move by seed noise. This runs one bench twice, in one
process, with ``--option`` off (the arithmetic before) and on (the default), with the same
losses, seeds and episodes, and prints both tables, each loss's paired difference with a 95%
t interval over the seeds, the ranking of each run, and the wall time of each.

    python benchmarks/verdict_option.py --data runs/p16/hopper-mixed/pool/s0 --out /tmp/verdict
    python benchmarks/verdict_option.py --option stack_losses --losses dpo,A.json,B.json ...
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

import mirrorpo as mp

LOSSES = ("dpo", "hinge", "ipo", "cdpo", "orpo")
"""At their registered defaults (given as NAME:… so the bench uses them as given)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a dataset directory (data make --out)")
    ap.add_argument("--out", required=True, help="a directory for the two bench runs")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--option", choices=("skip_padding", "stack_losses"), default="skip_padding")
    ap.add_argument("--losses", default=",".join(LOSSES),
                    help="comma-separated registered names (at their defaults) or MPO loss "
                         "files")
    args = ap.parse_args()
    losses = [name if name.endswith(".json") else f"{name}:" for name in
              args.losses.split(",")]
    data = Path(args.data).resolve()
    card = json.loads((data / "card.json").read_text())
    env, preset = card["env"], card["preset"].split("/")[0]
    root = Path(args.out) / "data"
    (root / env).mkdir(parents=True, exist_ok=True)
    link = root / env / preset
    if not link.exists():
        link.symlink_to(data)
    base = mp.BenchConfig(env=env, presets=(preset,), seeds=args.seeds,
                          episodes=args.episodes,
                          losses=tuple(losses),
                          train=mp.TrainConfig(steps=args.steps))
    scores, seconds = {}, {}
    for name, on in (("off", False), ("on", True)):
        cfg = replace(base, train=replace(base.train, **{args.option: on}))
        start = time.perf_counter()
        mp.bench(cfg, Path(args.out) / name, data_root=root, force=True)
        seconds[name] = time.perf_counter() - start
        scores[name] = member_scores(Path(args.out) / name, preset)
    print(f"{env} {preset} ({data}): {len(losses)} losses × {args.seeds} seeds, "
          f"{args.steps} steps, {args.episodes} episodes; {args.option} off vs on")
    print(f"wall time: off {seconds['off']:.0f} s, on {seconds['on']:.0f} s "
          f"({seconds['off'] / seconds['on']:.2f}x)")
    print(f"{'loss':<8} {'off':>16} {'on':>16} {'on − off [95% t]':>28}")
    for loss in scores["off"]:
        a, b = np.array(scores["off"][loss]), np.array(scores["on"][loss])
        d = b - a
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        print(f"{loss:<8} {fmt(a):>16} {fmt(b):>16} "
              f"{d.mean():>+8.1f} [{d.mean() - half:+.1f}, {d.mean() + half:+.1f}]")
    for name in scores:
        order = sorted(scores[name], key=lambda k: -np.mean(scores[name][k]))
        print(f"ranking ({args.option} {name}): {' > '.join(order)}")


def member_scores(run: Path, preset: str) -> dict[str, list[float]]:
    """Test-seed scores per loss spec, in seed order, from a bench run's test unit."""
    unit = json.loads((run / "units" / f"{preset}.test.json").read_text())
    out: dict[str, list[float]] = {}
    for m in sorted(unit["members"], key=lambda m: m["seed"]):
        out.setdefault(m["loss"], []).append(float("nan") if m["score"] is None
                                             else m["score"])
    return out


def fmt(x: np.ndarray) -> str:
    return f"{x.mean():.1f} ± {x.std(ddof=1) / np.sqrt(len(x)):.1f}"


if __name__ == "__main__":
    main()
