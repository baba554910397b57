"""A search as one job: datasets, reference, scorer and backend assembled from a
:class:`~mirrorpo.discovery.run.SearchConfig`, then the resumable ES loop of mirrorpo.discovery.run.

Where the fitness runs (this process, local worker processes, or Ray workers) and how many
threads it uses are
arguments of :func:`search`, not of the config: they change the wall time, not the numbers, so
a search started in one place resumes in another.
"""

from __future__ import annotations

from pathlib import Path

from mirrorpo.config import ConfigError
from mirrorpo.discovery.fitness import (
    Draw,
    FitnessContext,
    FitnessSetup,
    InProcess,
    make_fitness,
)
from mirrorpo.discovery.run import (
    SearchConfig,
    SearchResult,
    read_state,
    recorded_arithmetic,
    run_search,
)
from mirrorpo.progress import Log, Progress, no_log, no_progress
from mirrorpo.training.population import require_device

BACKENDS = ("local", "processes", "ray")


def fitness_context(config: SearchConfig, nthread: int | None = None) -> FitnessContext:
    """Datasets, and each one's environment's reference and scorer, of the search's fitness;
    the datasets must be of one environment unless ``config.fitness.pool``."""
    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer

    fit = config.fitness
    require_device(fit.train.device)
    sets = [load_dataset(d) for d in fit.data]
    draws = tuple(Draw(ds.fingerprint, ds.card["env"], ds.card["preset"], ds.card["seed"])
                  for ds in sets)
    envs = list(dict.fromkeys(d.env for d in draws))  # first-seen order
    if len(envs) > 1 and not fit.pool:
        raise ConfigError(f"FitnessConfig.data: datasets of one environment only (got "
                          f"{', '.join(envs)}); a meta-train pool of several needs "
                          "FitnessConfig.pool")
    setup = FitnessSetup(family=config.family, fitness_seeds=fit.fitness_seeds,
                         reseed=fit.reseed, train=fit.train, pool=fit.pool,
                         episodes=fit.episodes, protocol=fit.protocol,
                         halving_rungs=fit.halving_rungs,
                         halving_episodes=fit.halving_episodes)
    references = {e: load_reference(e) for e in envs}
    scorers = {e: NormalisedScorer.for_env(e, fit.episodes, mean_action=False, nthread=nthread,
                                           device=fit.train.device)
               for e in envs}
    return FitnessContext(setup, tuple(references[d.env] for d in draws),
                          tuple(ds.arrays for ds in sets),
                          tuple(scorers[d.env] for d in draws), draws)


def search(config: SearchConfig, out: str | Path, *, resume: bool = False,
           backend: str = "local", address: str | None = None, worker_cpus: int = 1,
           workers: int | None = None,
           progress: Progress = no_progress, log: Log = no_log,
           nthread: int | None = None) -> SearchResult:
    """Run the search ``config`` in ``out``, or continue it with ``resume`` (a run started
    from Python resumes from the command line and the other way round: both record the same
    config in state.json). The fitness datasets' fingerprints are recorded in state.json
    (``fitness_fingerprints``, with each one's environment, preset and seed in
    ``fitness_draws``) and in best.json and mean.json (``fitted_on``); a resume whose
    datasets now hold other contents is refused.

    ``backend`` "local" trains every generation as one population in this process;
    "processes" splits it into one shard per local worker process (one thread each; one
    worker per CPU, or ``workers``), the fastest on a small machine; "ray" splits it into
    shards on a Ray cluster (``address``: "auto", "ray://HEAD:10001", or None to start a local
    one), ``worker_cpus`` CPUs per shard. The fitness is the same on every backend.
    """
    from mirrorpo.discovery.run import STATE_FILE
    from mirrorpo.outputs import check_output_dir

    if backend not in BACKENDS:
        raise ConfigError(f"backend: unknown {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ConfigError("address: only with the ray backend")
    if workers is not None and backend != "processes":
        raise ConfigError("workers: only with the processes backend")
    if backend != "local" and config.fitness.halving_rungs:
        raise ConfigError("backend: successive halving (FitnessConfig.halving_rungs) runs "
                          "with the local backend only")
    out = Path(out)
    check_output_dir(out, STATE_FILE, "search", resume=resume, can_resume=True)
    if resume and (out / STATE_FILE).exists():  # the trainer arithmetic it was saved with
        config = recorded_arithmetic(config, read_state(out)["config"])
    ctx = fitness_context(config, nthread)
    if backend == "ray":
        from mirrorpo.discovery.ray_backend import RayBackend

        runner = RayBackend(ctx, address=address, worker_cpus=worker_cpus)
        log(f"Ray backend: {runner.workers} workers × {worker_cpus} CPU")
    elif backend == "processes":
        from mirrorpo.discovery.process_backend import ProcessBackend

        runner = ProcessBackend(ctx, workers)
        log(f"process backend: {runner.workers} workers × 1 thread")
    else:
        runner = InProcess(ctx)

    def log_generation(line: str) -> None:
        log(line)
        if (out / STATE_FILE).exists():
            log(f"  mean: {read_state(out)['formula']}")

    try:
        with progress(f"search {config.family} ({config.strategy}, P={config.popsize})",
                      config.generations) as advance:
            return run_search(config, out, make_fitness(ctx, runner), resume=resume,
                              progress=advance, log=log_generation,
                              draws=ctx.draws)
    finally:
        runner.close()
