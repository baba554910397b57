"""ES fitness: shards cover every member once, and sharded (Ray) fitness equals in-process."""

import numpy as np
import pytest
from click.testing import CliRunner

from mirrorpo.assets import load_reference
from mirrorpo.cli import main
from mirrorpo.data.dataset import load_dataset
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.search.fitness import (
    FitnessContext,
    FitnessSetup,
    InProcess,
    combine,
    fitness_seeds,
    make_fitness,
    plan_shards,
)
from mirrorpo.train.population import TrainConfig


@pytest.mark.parametrize("workers", [1, 2, 3, 7, 50])
def test_shards_cover_each_member_once(workers):
    shards = plan_shards(5, fitness_seeds(2), 3, workers)
    members = [(sh.dataset, c, s) for sh in shards
               for c, s in zip(sh.candidates, sh.seeds, strict=True)]
    expected = [(d, c, s) for d in range(3) for c in range(5) for s in fitness_seeds(2)]
    assert sorted(members) == sorted(expected) and len(members) == len(expected)
    assert len(shards) == 3 * min(workers, 10)


def test_fitness_seeds_fixed_or_fresh_per_generation():
    assert fitness_seeds(3, generation=5) == fitness_seeds(3, generation=0)
    fresh = [fitness_seeds(3, g, reseed=True) for g in range(4)]
    assert fresh[0] == fitness_seeds(3)
    flat = [s for seeds in fresh for s in seeds]
    assert len(set(flat)) == len(flat) and min(flat) >= 2000  # clear of test (0+), val (1000+)


def test_combine_means_over_seeds_and_datasets():
    shards = plan_shards(2, fitness_seeds(2), 2, 2)
    results = [np.arange(len(sh.candidates), dtype=float) + 10 * sh.dataset for sh in shards]
    # dataset d: candidate 0 gets scores (0, 1) + 10d, candidate 1 gets (0, 1) + 10d
    np.testing.assert_allclose(combine(shards, results, 2, 2), [5.5, 5.5])
    results[0][0] = -np.inf
    assert combine(shards, results, 2, 2)[0] == -np.inf


@pytest.fixture
def tiny_context(tiny_assets, tmp_path):
    data = tmp_path / "ds"
    res = CliRunner().invoke(main, ["data", "make", "--pairs", "16", "--horizon", "5",
                                    "--out", str(data)])
    assert res.exit_code == 0, res.output
    setup = FitnessSetup("mpo", fitness_seeds=2, train=TrainConfig(steps=5, batch_pairs=4))
    scorer = NormalisedScorer.for_env("hopper", episodes=2, mean_action=False)
    return FitnessContext(setup, load_reference("hopper"), (load_dataset(data).arrays,), scorer)


def candidates(n=6, sigma=0.3):
    x0 = to_vector(dpo_point(), "mpo")
    return x0 + sigma * np.random.default_rng(0).standard_normal((n, x0.size))


def test_ray_backend_gives_the_in_process_fitness(tiny_context):
    pytest.importorskip("ray")
    from mirrorpo.search.ray_backend import RayBackend

    x = candidates()
    local = make_fitness(tiny_context, InProcess(tiny_context))(x, 0)
    assert np.isfinite(local).all() and np.ptp(local) > 0  # candidates really differ
    backend = RayBackend(tiny_context, num_cpus=2)
    try:
        assert backend.workers == 2
        remote = make_fitness(tiny_context, backend)(x, 0)
    finally:
        backend.close()
    np.testing.assert_array_equal(remote, local)
