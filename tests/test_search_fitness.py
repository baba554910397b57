"""ES fitness: shards cover every member once, sharded (Ray) fitness equals in-process, the
meta-train pool trains one draw per member, and the reset seeds follow the protocol."""

import numpy as np
import pytest
from click.testing import CliRunner

from mirrorpo.assets import load_reference
from mirrorpo.cli import main
from mirrorpo.config import ConfigError
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import (
    FitnessConfig,
    FitnessContext,
    FitnessSetup,
    InProcess,
    combine,
    fitness_seeds,
    make_fitness,
    plan_shards,
    pool_draws,
    shard_scores,
)
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.training.population import TrainConfig


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
    setup = FitnessSetup("mpo", fitness_seeds=2, train=TrainConfig(steps=5, batch_pairs=4),
                         episodes=2)
    scorer = NormalisedScorer.for_env("hopper", episodes=2, mean_action=False)
    return FitnessContext(setup, load_reference("hopper"), (load_dataset(data).arrays,), scorer)


def candidates(n=6, sigma=0.3):
    x0 = to_vector(dpo_point(), "mpo")
    return x0 + sigma * np.random.default_rng(0).standard_normal((n, x0.size))


def test_ray_backend_gives_the_in_process_fitness(tiny_context):
    pytest.importorskip("ray")
    from mirrorpo.discovery.ray_backend import RayBackend

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


def test_process_backend_gives_the_in_process_fitness(tiny_context):
    from mirrorpo.discovery.process_backend import ProcessBackend

    x = candidates()
    local = make_fitness(tiny_context, InProcess(tiny_context))(x, 0)
    assert np.isfinite(local).all() and np.ptp(local) > 0
    backend = ProcessBackend(tiny_context, workers=2)
    try:
        shards = plan_shards(len(x), [2000, 2001], 1, backend.workers)
        assert len(shards) == 2  # one shard per worker
        remote = make_fitness(tiny_context, backend)(x, 0)
        again = make_fitness(tiny_context, backend)(x, 1)  # the workers are reused
    finally:
        backend.close()
    np.testing.assert_array_equal(remote, local)
    assert again.shape == local.shape


# ----------------------------------------------------------------------------- meta-train pool


class Recording:
    """A backend that trains nothing: it records the shards and scores member (candidate c,
    seed s) on dataset d as 1000·d + 10·c + (s − 2000)."""

    def __init__(self, workers=1):
        self.workers, self.calls = workers, []

    def map(self, vectors, shards):
        self.calls.append(shards)
        return [np.array([1000.0 * sh.dataset + 10 * c + (s - 2000)
                          for c, s in zip(sh.candidates, sh.seeds, strict=True)])
                for sh in shards]


def fake_context(n_datasets, **setup):
    return FitnessContext(FitnessSetup("mpo", **setup), None, ({},) * n_datasets, None)


def members_of(shards):
    return [(sh.dataset, c, s) for sh in shards
            for c, s in zip(sh.candidates, sh.seeds, strict=True)]


def test_pool_draws_are_shared_and_rotate_over_generations():
    assert pool_draws(3, 8) == [0, 1, 2] == pool_draws(3, 8, generation=4)  # fixed seeds
    fresh = [pool_draws(3, 8, g, reseed=True) for g in range(8)]
    assert fresh[:3] == [[0, 1, 2], [3, 4, 5], [6, 7, 0]]
    flat = [d for gen in fresh for d in gen]
    assert all(flat.count(d) == 3 for d in range(8))  # every draw equally often


@pytest.mark.parametrize("workers", [1, 3])
def test_pool_mode_trains_p_times_k_members_sharing_draws(workers):
    P, K, D = 4, 3, 5
    ctx = fake_context(D, fitness_seeds=K, reseed=True, pool=True)
    backend = Recording(workers)
    fitness = make_fitness(ctx, backend)
    for g in range(3):
        f = fitness(np.zeros((P, 2)), g)
        members = members_of(backend.calls[-1])
        assert len(members) == P * K  # not P × K × D
        seeds = fitness_seeds(K, g, reseed=True)
        draws = pool_draws(K, D, g, reseed=True)
        # every candidate trains seed slot k on the same draw (common random numbers)
        assert sorted(members) == sorted((draws[k], c, seeds[k])
                                         for c in range(P) for k in range(K))
        assert all(len({sh.dataset}) == 1 for sh in backend.calls[-1])
        expected = [np.mean([1000 * draws[k] + 10 * c + seeds[k] - 2000 for k in range(K)])
                    for c in range(P)]
        np.testing.assert_allclose(f, expected)
    assert {d for shards in backend.calls for d, _, _ in members_of(shards)} == set(range(D))


def test_default_mode_trains_every_member_on_every_dataset():
    P, K, D = 4, 2, 3
    backend = Recording()
    f = make_fitness(fake_context(D, fitness_seeds=K), backend)(np.zeros((P, 2)), 0)
    members = members_of(backend.calls[-1])
    assert sorted(members) == sorted((d, c, s) for d in range(D) for c in range(P)
                                     for s in fitness_seeds(K))
    np.testing.assert_allclose(f, [1000 + 10 * c + 0.5 for c in range(P)])  # mean over d, s


def test_plan_shards_with_draws_cover_each_member_once():
    seeds = fitness_seeds(4)
    shards = plan_shards(3, seeds, 2, 2, draws=[1, 0, 1, 1])
    assert sorted(members_of(shards)) == sorted(
        (d, c, s) for c in range(3) for s, d in zip(seeds, [1, 0, 1, 1], strict=True))
    with pytest.raises(ValueError, match="draws"):
        plan_shards(3, seeds, 2, 2, draws=[0, 2, 0, 0])


def test_fitness_config_json_pool_and_protocol(tmp_path):
    old = FitnessConfig(data=(str(tmp_path),))
    raw = old.to_json()
    assert "pool" not in raw and raw["protocol"] == 2
    assert FitnessConfig.from_json(raw) == old
    pooled = FitnessConfig(data=(str(tmp_path / "a"), str(tmp_path / "b")), reseed=True,
                           pool=True)
    assert pooled.to_json()["pool"] is True and FitnessConfig.from_json(pooled.to_json()) == pooled
    # a config saved before protocols existed reads back as protocol 1, and writes the same
    legacy = {k: v for k, v in raw.items() if k != "protocol"}
    assert FitnessConfig.describes(legacy)
    assert FitnessConfig.from_json(legacy).protocol == 1
    assert FitnessConfig.from_json(legacy).to_json() == legacy
    with pytest.raises(ConfigError, match="pool.*never be used"):
        FitnessConfig(data=(str(tmp_path / "a"), str(tmp_path / "b")), pool=True)


class FakeStack:
    def __init__(self, idx):
        self.idx = idx

    def select(self, idx):
        return [self.idx[i] for i in idx]


@pytest.mark.parametrize(("protocol", "expected"), [
    (1, {2000: 702000, 2001: 702001, 2002: 702002}),  # consecutive seeds overlap
    (2, {2000: 700000, 2001: 700005, 2002: 700010}),  # 5 episodes each, disjoint
])
def test_shard_scores_reset_seeds_per_protocol(monkeypatch, protocol, expected):
    import importlib
    from types import SimpleNamespace

    fitness_mod = importlib.import_module("mirrorpo.discovery.fitness")
    monkeypatch.setattr(fitness_mod, "get_family",
                        lambda name: SimpleNamespace(loss=lambda v: None))
    monkeypatch.setattr(fitness_mod, "train_population", lambda ref, arrays, losses, seeds, cfg,
                        progress=None: SimpleNamespace(
                            policy=SimpleNamespace(to_stack=lambda: FakeStack(list(seeds))),
                            failed=np.zeros(len(losses), bool)))
    seen = {}

    def scorer(stack, seed):
        seen[stack[0]] = seed
        return np.zeros(len(stack)), None

    setup = FitnessSetup("mpo", fitness_seeds=3, episodes=5, protocol=protocol)
    ctx = FitnessContext(setup, None, ({},), scorer)
    shard = plan_shards(2, fitness_seeds(3), 1, 1)[0]
    shard_scores(ctx, np.zeros((2, 1)), shard)
    assert seen == expected
