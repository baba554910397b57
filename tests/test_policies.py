"""Policy stacks: batched maths, safetensors round trip, SB3 export."""

import numpy as np
import pytest
import torch

from mirrorpo.policies import concat, load_policies, save_policies
from tests.conftest import random_stack


def test_log_prob_matches_torch_normal():
    st = random_stack(5, 3, 2, hidden=(7, 4))
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2, 6, 5))
    act = rng.normal(size=(2, 6, 3))
    mean = st.mean_action(obs)
    want = torch.distributions.Normal(torch.tensor(mean), torch.tensor(
        np.exp(st.log_std)[:, None, :])).log_prob(torch.tensor(act)).sum(-1).numpy()
    np.testing.assert_allclose(st.log_prob(obs, act), want, rtol=1e-12, atol=1e-12)


def test_stack_rows_are_independent_policies():
    st = random_stack(5, 3, 4)
    obs = np.random.default_rng(1).normal(size=(4, 3, 5))
    full = st.mean_action(obs)
    for i in range(4):
        np.testing.assert_allclose(st.select(i).mean_action(obs[i:i + 1])[0], full[i])
    both = concat([st.select(0), st.select(3)])
    np.testing.assert_allclose(both.mean_action(obs[[0, 3]]), full[[0, 3]])


def test_safetensors_round_trip(tmp_path):
    st = random_stack(5, 3, 3, hidden=(6, 6))
    save_policies(tmp_path / "p.safetensors", st, {"note": "x"})
    back, info = load_policies(tmp_path / "p.safetensors")
    assert info == {"note": "x"}
    for a, b in zip(st.weights + st.biases, back.weights + back.biases, strict=True):
        assert b.dtype == np.float32  # layers are stored in float32
        np.testing.assert_array_equal(a.astype(np.float32), b)
    np.testing.assert_array_equal(st.log_std, back.log_std)


def test_corrupt_policy_file_is_reported(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_policies(bad)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_policies(tmp_path / "missing.safetensors")


def test_sb3_export_matches_sb3_actor():
    import torch.nn as nn
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from mirrorpo.envs import get_spec
    from mirrorpo.experts import export_sb3_policy

    spec = get_spec("hopper")
    venv = VecNormalize(DummyVecEnv([lambda: spec.make()]))
    rng = np.random.default_rng(0)
    venv.obs_rms.mean = rng.normal(size=spec.obs_dim)
    venv.obs_rms.var = rng.uniform(0.5, 2.0, size=spec.obs_dim)
    model = PPO("MlpPolicy", venv, device="cpu", policy_kwargs=dict(
        net_arch=dict(pi=[16, 16], vf=[16, 16]), activation_fn=nn.ReLU))
    st = export_sb3_policy(model, venv.obs_rms.mean, venv.obs_rms.var, venv.clip_obs,
                           venv.epsilon)
    raw = rng.normal(size=(8, spec.obs_dim)) * 3
    norm = venv.normalize_obs(raw)
    with torch.no_grad():
        dist = model.policy.get_distribution(torch.as_tensor(norm, dtype=torch.float32))
        want = dist.distribution.mean.numpy()
    got = st.mean_action(raw[None])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert st.activation == "relu"


def test_mean_action_bits_do_not_depend_on_blas_threads():
    # OpenBLAS splits a product between threads in a way that changes its last bits, and a
    # rollout turns last bits into other trajectories (a dataset drawn with two threads
    # differed from one drawn with one): mean_action runs its products on one BLAS thread.
    from threadpoolctl import threadpool_limits

    st = random_stack(17, 6, 4, hidden=(256, 256))
    obs = np.random.default_rng(2).normal(size=(4, 2500, 17))
    out = []
    for n in (1, 2, 4):
        with threadpool_limits(limits=n, user_api="blas"):
            out.append(st.mean_action(obs))
    for other in out[1:]:
        np.testing.assert_array_equal(other, out[0])
