"""numpy's matrix products on one BLAS thread, so that their results do not depend on the thread
count.

OpenBLAS (numpy's BLAS) splits a product between its threads in a way that changes the last
bits of the result, and a rollout amplifies last bits into different trajectories: a dataset
drawn with two BLAS threads differed from one drawn with one (Walker2d ``mixed`` seed 0,
2026-12-02), and so would evaluation scores. The products here are small (a policy layer on a
few thousand observations), and one thread was faster than two (benchmarks/bench_blas.py;
docs/scaling.md). threadpoolctl is the
maintained way to set a loaded BLAS's threads at run time (an environment variable acts only
before numpy is imported). The kernels OpenBLAS picks for the CPU still differ between CPU
types, so results are identical for any thread count on one kind of machine, not across kinds.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # finds the loaded BLAS libraries once (~ms)


def one_blas_thread() -> AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread (restored on exit; ~20 µs)."""
    return _controller().limit(limits=1, user_api="blas")
