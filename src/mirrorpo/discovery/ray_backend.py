"""Fitness shards on a Ray cluster: one remote task per shard, on any number of machines.

The fitness context (reference policy, datasets, scorer) is put in Ray's object store once and
shared by all tasks; each task trains its shard's members as one population with
``worker_cpus`` threads and returns their scores. With ``address=None`` a local Ray instance is
started (and shut down on ``close``); with an address (``"auto"``, ``"ray://head:10001"``) the
running cluster is joined. Every node needs mirrorpo installed in the same version.
"""

from __future__ import annotations

import numpy as np

from mirrorpo.discovery.fitness import FitnessContext, Shard, shard_scores, worker_context


def _run_shard(ctx: FitnessContext, vectors: np.ndarray, shard: Shard,
               threads: int) -> np.ndarray:
    return shard_scores(worker_context(ctx, threads), vectors, shard)


class RayBackend:
    """Shards spread over the CPUs of a Ray cluster, ``worker_cpus`` CPUs per task."""

    def __init__(self, ctx: FitnessContext, address: str | None = None, worker_cpus: int = 1,
                 workers: int | None = None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the Ray backend needs Ray: pip install 'mirrorpo[ray]'") from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, num_cpus=num_cpus if address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.worker_cpus = worker_cpus
        self.workers = workers or max(1, cpus // worker_cpus)
        self._ctx = ray.put(ctx)
        self._task = ray.remote(num_cpus=worker_cpus, max_retries=2)(_run_shard)

    def map(self, vectors: np.ndarray, shards: list[Shard]) -> list[np.ndarray]:
        vec = self._ray.put(np.asarray(vectors))
        refs = [self._task.remote(self._ctx, vec, sh, self.worker_cpus) for sh in shards]
        return self._ray.get(refs)

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
