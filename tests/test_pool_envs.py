"""A meta-train pool of several environments and presets (issue 16, the generalist search):
the pool's order spreads every generation over the environments and covers each draw equally,
each member trains from its draw's environment's reference and is scored by that
environment's scorer, the search records each draw's environment, preset and seed and each
generation's draws, one-environment pools are unchanged, mixed environments without --pool
are refused, and confirm / meta-test take a candidate fitted on such a pool on fresh draws of
another preset and of an environment the pool never held."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mirrorpo.api import DataConfig, make_dataset
from mirrorpo.assets import LADDER_FILE, REFERENCE_FILE, load_reference, write_suite_info
from mirrorpo.cli import main
from mirrorpo.config import ConfigError
from mirrorpo.confirm import ConfirmConfig, confirm
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import (
    FitnessConfig,
    FitnessContext,
    InProcess,
    Shard,
    fitness_seeds,
    make_fitness,
    member_draws,
    pool_draws,
    pool_order,
    shard_scores,
)
from mirrorpo.discovery.job import fitness_context, search
from mirrorpo.discovery.run import SearchConfig, read_state
from mirrorpo.envs import get_spec
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, load_mpo, to_vector
from mirrorpo.metatest import check_fresh_draws
from mirrorpo.policies import save_policies
from mirrorpo.training.population import TrainConfig
from mirrorpo.tuning import TuningConfig, tune
from tests.conftest import random_stack

TINY = TrainConfig(steps=3, batch_pairs=4)


@pytest.fixture
def one_thread():
    """One torch thread (bit-reproducible members), put back afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- the pool's order


def test_one_environment_keeps_the_given_order():
    assert pool_order(["hopper"] * 5) == [0, 1, 2, 3, 4]
    for g in range(6):  # so member_draws is today's pool_draws
        assert member_draws(2, pool_order(["hopper"] * 5), g, reseed=True) == \
            pool_draws(2, 5, g, reseed=True)


def test_environments_take_turns_in_proportion():
    envs = ["hopper"] * 3 + ["walker2d"] * 3
    assert pool_order(envs) == [0, 3, 1, 4, 2, 5]
    # 4 hopper draws to 2 walker2d draws: walker2d every third place, not bunched at the end
    assert pool_order(["hopper"] * 4 + ["walker2d"] * 2) == [0, 4, 1, 2, 5, 3]
    # interleaved input: each environment's draws keep their given order
    assert pool_order(["walker2d", "hopper", "walker2d", "hopper"]) == [0, 1, 2, 3]
    assert sorted(pool_order(["a", "b", "a", "c", "a"])) == [0, 1, 2, 3, 4]


def test_generalist_pool_covers_draws_evenly_and_spreads_each_generation():
    """The protocol's pool: 2 envs × 3 presets × 2 seeds, 2 fitness seeds, 24 generations."""
    envs = [e for e in ("hopper", "walker2d") for _ in range(6)]
    order = pool_order(envs)
    gens = [member_draws(2, order, g, reseed=True) for g in range(24)]
    flat = [d for gen in gens for d in gen]
    assert all(flat.count(d) == 4 for d in range(12))  # 48 slots, every draw 4 times
    assert all({envs[d] for d in gen} == {"hopper", "walker2d"} for gen in gens)


# ----------------------------------------------------------------------------- tiny suite


def add_env(root, env: str, seed: int, random_return: float, expert_return: float) -> None:
    spec = get_spec(env)
    d = root / env
    d.mkdir(parents=True, exist_ok=True)
    save_policies(d / LADDER_FILE, random_stack(spec.obs_dim, spec.act_dim, 5, seed=seed),
                  {"env": env})
    save_policies(d / REFERENCE_FILE, random_stack(spec.obs_dim, spec.act_dim, 1, seed=seed + 1),
                  {"env": env})
    levels = [{"level": i, "source": f"random{i}", "env_steps": 0, "return_mean": 10.0 * i,
               "return_std": 1.0, "score": 10.0 * i, "score_ci95": [0.0, 1.0]}
              for i in range(5)]
    write_suite_info(env, {"env": env, "random_return": random_return,
                           "expert_return": expert_return, "ladder": levels}, d)


@pytest.fixture
def suite(tiny_assets, tmp_path):
    """Random-policy assets for hopper (tiny_assets), walker2d and halfcheetah (each with its
    own random and expert returns), and tiny draws: hopper clean and noisy-20, walker2d clean
    and mixed (the pool), and fresh ones."""
    root = tiny_assets.parent
    add_env(root, "walker2d", 11, -5.0, 500.0)
    add_env(root, "halfcheetah", 21, -300.0, 3000.0)

    def draw(env, preset, seed):
        path = tmp_path / "data" / f"{env}-{preset}-{seed}"
        make_dataset(DataConfig(env=env, preset=preset, pairs=12, horizon=5, seed=seed), path)
        return str(path)

    pool = (draw("hopper", "clean", 0), draw("hopper", "noisy-20", 0),
            draw("walker2d", "clean", 0), draw("walker2d", "mixed", 0))
    return {"pool": pool, "draw": draw, "root": root}


def pool_config(data, **changes) -> SearchConfig:
    fitness = FitnessConfig(data=tuple(data), fitness_seeds=2, reseed=True, pool=True,
                            episodes=2, train=TINY)
    return SearchConfig(**{"popsize": 4, "generations": 2, "fitness": fitness, **changes})


def candidates(n=4, sigma=0.3):
    x0 = to_vector(dpo_point(), "mpo")
    return x0 + sigma * np.random.default_rng(0).standard_normal((n, x0.size))


# ----------------------------------------------------------------------------- fitness


def alone(data: str, x: np.ndarray, seed: int, episodes: int = 2) -> np.ndarray:
    """Scores (P,) of the P candidates trained with ``seed`` on the draw ``data``, from its
    environment's shipped reference and scored by its environment's scorer, as a one-draw
    fitness context of its own."""
    ds = load_dataset(data)
    env = ds.card["env"]
    ctx = FitnessContext(fitness_context(pool_config([data])).setup, load_reference(env),
                         (ds.arrays,), NormalisedScorer.for_env(env, episodes,
                                                                mean_action=False))
    return shard_scores(ctx, x, Shard(0, tuple(range(len(x))), (seed,) * len(x)))


def test_mixed_pool_members_use_their_environments_reference_and_scorer(suite, one_thread):
    config = pool_config(suite["pool"])
    ctx = fitness_context(config)
    assert [d.env for d in ctx.draws] == ["hopper", "hopper", "walker2d", "walker2d"]
    assert ctx.reference[0] is ctx.reference[1] and ctx.reference[2] is not ctx.reference[0]
    x = candidates()
    fitness = make_fitness(ctx, InProcess(ctx))
    for g in range(2):
        draws = member_draws(2, ctx.order(), g, reseed=True)
        assert {ctx.draws[d].env for d in draws} == {"hopper", "walker2d"}
        expected = np.mean([alone(suite["pool"][d], x, s)
                            for d, s in zip(draws, fitness_seeds(2, g, reseed=True),
                                            strict=True)], axis=0)
        got = fitness(x, g)
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, expected)


def test_one_environment_pool_is_todays_pool(tiny_assets, tmp_path, one_thread):
    data = []
    for s in range(3):
        data.append(str(tmp_path / f"d{s}"))
        make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5, seed=s), data[-1])
    ctx = fitness_context(pool_config(data))
    x = candidates()
    for g in range(2):  # draw (2g + k) mod 3 of the given order, as before envs were mixed
        expected = np.mean([alone(data[d], x, s)
                            for d, s in zip(pool_draws(2, 3, g, reseed=True),
                                            fitness_seeds(2, g, reseed=True), strict=True)],
                           axis=0)
        np.testing.assert_array_equal(make_fitness(ctx, InProcess(ctx))(x, g), expected)


# ----------------------------------------------------------------------------- search records


def test_mixed_pool_search_records_env_preset_and_draws(suite, tmp_path, one_thread):
    config = pool_config(suite["pool"])
    search(config, tmp_path / "s")
    state = read_state(tmp_path / "s")
    fps = [load_dataset(d).fingerprint for d in suite["pool"]]
    assert state["fitness_fingerprints"] == fps
    assert state["fitness_draws"] == [
        {"env": "hopper", "preset": "clean/v1", "seed": 0},
        {"env": "hopper", "preset": "noisy-20/v1", "seed": 0},
        {"env": "walker2d", "preset": "clean/v1", "seed": 0},
        {"env": "walker2d", "preset": "mixed/v1", "seed": 0}]
    order = pool_order(["hopper", "hopper", "walker2d", "walker2d"])
    for g, gen in enumerate(state["history"]):
        assert gen["draws"] == member_draws(2, order, g, reseed=True)
        envs = [state["fitness_draws"][d]["env"] for d in gen["draws"]]  # per seed slot
        assert sorted(envs) == ["hopper", "walker2d"]
    assert sorted(d for gen in state["history"] for d in gen["draws"]) == [0, 1, 2, 3]
    for name in ("best.json", "mean.json"):
        assert load_mpo(tmp_path / "s" / name).fitted_on == tuple(fps)
    # a resume replays it (the same draws) and changes nothing
    before = (tmp_path / "s" / "state.json").read_text()
    search(config, tmp_path / "s", resume=True)
    assert (tmp_path / "s" / "state.json").read_text() == before


def test_read_state_checks_the_recorded_draws(suite, tmp_path):
    search(pool_config(suite["pool"], generations=1), tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    raw = json.loads(path.read_text())
    raw["history"][0]["draws"] = [0, 7]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"history\.0\.draws: names a dataset beyond"):
        read_state(tmp_path / "s")
    raw["history"][0]["draws"] = [0]
    raw["fitness_draws"] = raw["fitness_draws"][:3]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="fitness_draws: has 3 values, expected 4"):
        read_state(tmp_path / "s")


def test_mixed_environments_need_pool(suite, tmp_path, one_thread):
    pool = suite["pool"]
    with pytest.raises(ConfigError, match="FitnessConfig.data: datasets of one environment "
                                          r"only \(got hopper, walker2d\)"):
        fitness_context(SearchConfig(fitness=FitnessConfig(data=pool[:1] + pool[2:3])))
    res = CliRunner().invoke(main, ["search", "--data", f"{pool[0]},{pool[2]}", "--popsize", "2",
                                    "--generations", "1", "--steps", "2", "--episodes", "2",
                                    "--out", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "--data: datasets of one environment only (got hopper, walker2d)" in res.output
    assert "needs --pool" in res.output and not (tmp_path / "s" / "state.json").exists()


# ----------------------------------------------------------------------------- confirmation


def test_confirm_and_meta_test_take_a_generalist_on_unseen_presets_and_envs(suite, tmp_path,
                                                                            one_thread):
    """Fresh draws of a preset the pool never held (hopper stochastic) and of an environment it
    never held (halfcheetah) are fresh; a pool draw is refused by either."""
    search(pool_config(suite["pool"], generations=1), tmp_path / "s")
    best = str(tmp_path / "s" / "best.json")
    draw = suite["draw"]
    for env, preset in (("hopper", "stochastic"), ("halfcheetah", "mixed")):
        tuning_pool = (draw(env, preset, 0), draw(env, preset, 1))
        fresh = (draw(env, preset, 100), draw(env, preset, 101))
        tune(TuningConfig(losses=("dpo",), data=tuning_pool, val_seeds=1, episodes=2,
                          grid_points=3, learning_rates=(1e-3,), snapshot_steps=(2, 3),
                          batch_pairs=4), tmp_path / f"tune-{env}")
        config = ConfirmConfig(target=f"{env} {preset}", candidates=(best,),
                               tuned=str(tmp_path / f"tune-{env}" / "tuned.json"), draws=fresh,
                               seeds=2, episodes=2, candidate_steps=3, batch_pairs=4)
        (v,) = confirm(config, tmp_path / f"confirm-{env}")
        assert v.differences["dpo (tuned)"].draws == 2
        scores = json.loads((tmp_path / f"confirm-{env}" / "scores.json").read_text())
        assert np.isfinite(scores["scores"]["mpo:best"]).all()
        md = (tmp_path / f"confirm-{env}" / "verdicts.md").read_text()
        assert "search training runs" in md  # the search's budget, from its state.json
        check_fresh_draws([tmp_path / "s" / "best.json"], {preset: fresh[0]})  # no error
    walker = suite["pool"][2]
    with pytest.raises(ConfigError, match="best.json was fitted on it"):
        confirm(replace(config, draws=(walker, config.draws[0])), tmp_path / "refused")
    with pytest.raises(ConfigError, match="one that .*best.json was fitted on"):
        check_fresh_draws([tmp_path / "s" / "best.json"], {"clean": walker})
