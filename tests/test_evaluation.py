"""Population evaluation equals evaluating each policy alone, and plain Gymnasium."""

import numpy as np
import pytest

from mirrorpo.envs import get_spec
from mirrorpo.evaluation import episode_returns, grouped_actor, stacked_actor
from tests.conftest import random_stack


def test_grouped_and_stacked_actors_agree():
    st = random_stack(11, 3, 3)
    rng = np.random.default_rng(0)
    obs, noise = rng.normal(size=(12, 11)), rng.normal(size=(12, 3))
    a = stacked_actor(st, 4)(obs, noise)
    b = grouped_actor(st, np.repeat(np.arange(3), 4))(obs, noise)
    np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("deterministic", [True, False])
def test_population_returns_equal_single_runs(deterministic):
    spec = get_spec("hopper")
    st = random_stack(spec.obs_dim, spec.act_dim, 3, seed=5)
    pop = episode_returns(spec, st, 2, seed=7, deterministic=deterministic)
    for i in range(3):
        alone = episode_returns(spec, st.select(i), 2, seed=7, deterministic=deterministic)
        np.testing.assert_array_equal(pop[i], alone[0])


def test_sampled_returns_match_plain_gymnasium_loop():
    spec = get_spec("hopper")
    st = random_stack(spec.obs_dim, spec.act_dim, 2, seed=6)
    k, seed = 3, 11
    got = episode_returns(spec, st, k, seed)
    streams = [np.random.default_rng([seed, j]) for j in range(k)]
    envs = [spec.make() for _ in range(2 * k)]
    obs = np.stack([e.reset(seed=seed + (j % k))[0] for j, e in enumerate(envs)])
    ret, alive = np.zeros(2 * k), np.ones(2 * k, bool)
    for _ in range(spec.max_episode_steps):
        noise = np.stack([g.standard_normal(spec.act_dim) for g in streams])[[0, 1, 2] * 2]
        act = np.clip(st.sample(obs.reshape(2, k, -1), noise.reshape(2, k, -1)).reshape(2 * k, -1),
                      -1, 1)
        for j, e in enumerate(envs):
            if alive[j]:
                obs[j], r, term, trunc, _ = e.step(act[j])
                ret[j] += r
                alive[j] = not (term or trunc)
        if not alive.any():
            break
    np.testing.assert_array_equal(got.reshape(-1), ret)
