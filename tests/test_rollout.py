"""Batched native stepping reproduces plain Gymnasium step by step."""

import numpy as np
import pytest

from mirrorpo.envs import ENV_NAMES, get_spec
from mirrorpo.rollout import BatchedSim, lent_sim, reset_states, run_rollouts


def gym_returns(spec, seeds, noise_seed, scale, max_steps):
    """Reference: one plain Gymnasium env per seed, actions from the same noise stream."""
    rng = np.random.default_rng(noise_seed)
    m = len(seeds)
    envs = [spec.make() for _ in seeds]
    for env, s in zip(envs, seeds, strict=True):
        env.reset(seed=int(s))
    ret, length, alive = np.zeros(m), np.zeros(m, int), np.ones(m, bool)
    for _ in range(max_steps):
        noise = rng.standard_normal((m, spec.act_dim))
        for j, env in enumerate(envs):
            if not alive[j]:
                continue
            a = np.clip(scale * noise[j], spec.action_low, spec.action_high)
            _, r, term, trunc, _ = env.step(a)
            ret[j] += r
            length[j] += 1
            alive[j] = not (term or trunc)
    return ret, length


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_batched_rollout_matches_gymnasium(env_name):
    spec = get_spec(env_name)
    seeds = [3, 4, 5, 6, 7]
    steps = 120
    want_ret, want_len = gym_returns(spec, seeds, noise_seed=11, scale=0.8, max_steps=steps)
    qpos, qvel = reset_states(spec, seeds)
    got = run_rollouts(
        spec, lambda obs, noise: 0.8 * noise, qpos, qvel, steps, np.random.default_rng(11)
    )
    np.testing.assert_array_equal(got.lengths, want_len)
    np.testing.assert_array_equal(got.returns, want_ret)


def test_replay_from_restored_state_reproduces_rewards():
    spec = get_spec("hopper")
    qpos, qvel = reset_states(spec, [0, 1])
    first = run_rollouts(spec, lambda o, n: 0.1 * n, qpos, qvel, 25, np.random.default_rng(0),
                         record=True)
    assert (first.lengths == 25).all()
    # restart from the state recorded at t=20 and replay the recorded actions
    t0 = 5
    replay_actions = first.actions[:, t0:]
    counter = iter(range(10_000))

    def replay(obs, noise):
        return replay_actions[:, next(counter)]

    again = run_rollouts(spec, replay, first.qpos[:, t0], first.qvel[:, t0], 15, None,
                         record=True)
    np.testing.assert_allclose(again.rewards, first.rewards[:, t0:t0 + 15], rtol=0, atol=1e-9)


def test_pooled_simulators_are_reused_grown_and_match_fresh_ones():
    spec = get_spec("hopper")
    act = lambda obs, noise: 0.8 * noise  # noqa: E731

    def roll(seeds, sim=None):
        qpos, qvel = reset_states(spec, seeds)
        return run_rollouts(spec, act, qpos, qvel, 80, np.random.default_rng(5), sim=sim,
                            nthread=1).returns

    with lent_sim(spec, 3, nthread=1) as first:
        pass
    roll([1, 2, 3])  # leaves the pooled copies mid-episode
    grown = roll(list(range(10, 19)))  # needs more copies than the pool holds
    with lent_sim(spec, 1, nthread=1) as again:
        assert again is first and again.n >= 9  # one simulator, grown, not a new one
    with BatchedSim(spec, 9, nthread=1) as fresh:
        np.testing.assert_array_equal(grown, roll(list(range(10, 19)), sim=fresh))
    np.testing.assert_array_equal(grown, roll(list(range(10, 19))))
