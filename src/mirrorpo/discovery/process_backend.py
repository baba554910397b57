"""Fitness shards on local worker processes, one torch thread each (``--backend processes``).

On a small machine two one-thread processes do about 1.5× the work of one process with two
threads (benchmarks/profile_fitness.md): a member population's small matrix products and
elementwise passes split poorly between threads. This backend splits each generation into one
shard per worker, as the Ray backend does, on a standard-library process pool (Ray's local
cluster does the same with more overhead and an extra dependency). The workers are started
once per search with the fitness context (spawn, so no torch state is forked); a member's
numbers do not depend on its shard or the thread count, so the fitness equals the in-process
one exactly (tests/test_search_fitness.py).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from mirrorpo.discovery.fitness import FitnessContext, Shard, shard_scores, worker_context

_CTX: FitnessContext | None = None


def _start_worker(ctx: FitnessContext) -> None:
    """Worker initializer: one torch thread, one MuJoCo thread, the context kept."""
    global _CTX
    _CTX = worker_context(ctx, 1)


def _run_shard(vectors: np.ndarray, shard: Shard) -> np.ndarray:
    assert _CTX is not None, "worker not started"
    return shard_scores(_CTX, vectors, shard)


def default_workers() -> int:
    """The CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class ProcessBackend:
    """Shards on ``workers`` local processes (default: one per CPU)."""

    def __init__(self, ctx: FitnessContext, workers: int | None = None):
        self.workers = workers or default_workers()
        self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(ctx,))

    def map(self, vectors: np.ndarray, shards: list[Shard]) -> list[np.ndarray]:
        vectors = np.asarray(vectors)
        futures = [self._pool.submit(_run_shard, vectors, sh) for sh in shards]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
