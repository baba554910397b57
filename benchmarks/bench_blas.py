"""A policy forward pass with numpy's BLAS on one thread (``mirrorpo.blas``, now) against the
same products with OpenBLAS's default threads (before), interleaved in one process, with the
bit-identity of each across thread counts.

Rollouts call ``PolicyStack.mean_action`` once per step on every environment copy; with the
default threads its last bits depended on the thread count, and so did every draw and score.
This prints milliseconds per call each way, their ratio, and whether each way gives the same
bits with 1 and 2 threads.

    python benchmarks/bench_blas.py [--env hopper] [--copies 2500] [--calls 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mirrorpo.assets import load_reference
from mirrorpo.policies import ACTIVATIONS


def unpinned(stack, obs: np.ndarray) -> np.ndarray:
    """``mean_action`` as it was: the products on OpenBLAS's default threads."""
    act = ACTIVATIONS[stack.activation]
    x = stack.normalize(obs).astype(stack.weights[0].dtype, copy=False)
    for i, (w, b) in enumerate(zip(stack.weights, stack.biases, strict=True)):
        x = np.matmul(x, w) + b[:, None, :]
        if i < len(stack.weights) - 1:
            x = act(x)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--copies", type=int, default=2500)
    ap.add_argument("--calls", type=int, default=30)
    a = ap.parse_args()
    stack = load_reference(a.env)
    obs = np.random.default_rng(0).normal(size=(stack.size, a.copies, stack.obs_dim))
    ways = {"one thread (now)": stack.mean_action, "default threads (before)":
            lambda o: unpinned(stack, o)}
    times = {k: [] for k in ways}
    for _ in range(a.calls):  # interleaved, so both see the same load
        for name, fn in ways.items():
            t = time.perf_counter()
            fn(obs)
            times[name].append(time.perf_counter() - t)
    for name, fn in ways.items():
        bits = []
        for n in (1, 2):
            with threadpool_limits(limits=n, user_api="blas"):
                bits.append(fn(obs))
        same = np.array_equal(bits[0], bits[1])
        print(f"{name:26s} {1e3 * np.median(times[name]):8.2f} ms per call (median of "
              f"{a.calls}); same bits with 1 and 2 threads: {same}")
    now, before = (np.median(v) for v in times.values())
    print(f"ratio before / now: {before / now:.2f}x ({a.env}, {stack.size} policy, "
          f"{a.copies} copies)")


if __name__ == "__main__":
    main()
