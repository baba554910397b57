"""Memory of repeated scorings: a fresh simulator per call (before) against the process's pooled
simulators (``mirrorpo.rollout.lent_sim``, now), side by side, each in its own process.

A tuning unit scores ~2,500 environment copies at once (49 members × 5 snapshots + the
reference, × 10 episodes) and does so every unit; with a fresh ``MjData`` per copy per call, the
process kept what MuJoCo freed and grew until the OOM killer stopped it. This prints the resident
set (MiB) after each of ``--calls`` rollouts of ``--copies`` copies and checks that both ways give
the same returns.

    python benchmarks/bench_memory.py [--env walker2d] [--copies 2500] [--calls 6] [--steps 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys
import numpy as np
from mirrorpo.envs import get_spec
from mirrorpo.rollout import BatchedSim, reset_states, run_rollouts

env, copies, calls, steps, mode = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
spec = get_spec(env)

def rss_mib():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024

def actor(obs, noise):
    return 0.3 * noise

rows, returns = [rss_mib()], []
for call in range(calls):
    qpos, qvel = reset_states(spec, np.arange(copies) + 1000 * call)
    sim = BatchedSim(spec, copies) if mode == "fresh" else None
    out = run_rollouts(spec, actor, qpos, qvel, steps, np.random.default_rng(call), sim=sim)
    if sim is not None:
        sim.close()
    del sim
    returns.append(float(out.returns.sum()))
    rows.append(rss_mib())
print(json.dumps({"rss": rows, "returns": returns}))
"""


def measure(mode: str, args) -> dict:
    cmd = [sys.executable, "-c", CHILD, args.env, str(args.copies), str(args.calls),
           str(args.steps), mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="walker2d")
    p.add_argument("--copies", type=int, default=2500)
    p.add_argument("--calls", type=int, default=6)
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    res = {mode: measure(mode, args) for mode in ("fresh", "pooled")}
    print(f"{args.env}: {args.calls} rollouts of {args.copies} copies × {args.steps} steps; "
          "resident MiB at start, then after each call")
    for mode, r in res.items():
        print(f"  {mode:7s} " + " ".join(f"{v:6.0f}" for v in r["rss"]))
    grow = {m: r["rss"][-1] - r["rss"][1] for m, r in res.items()}
    print(f"growth after the first call: fresh {grow['fresh']:.0f} MiB, pooled "
          f"{grow['pooled']:.0f} MiB; peak fresh/pooled "
          f"{max(res['fresh']['rss']) / max(res['pooled']['rss']):.2f}×")
    same = res["fresh"]["returns"] == res["pooled"]["returns"]
    print(f"returns identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
