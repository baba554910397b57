"""Expert training (tiny budget), resume, and ladder level selection."""

import dataclasses

import numpy as np
import pytest
import torch

import mirrorpo.envs as envs
import mirrorpo.experts as ex
from mirrorpo.policies import load_policies
from tests.conftest import random_stack


@pytest.fixture
def tiny_config(monkeypatch):
    spec = envs.SPECS["hopper"]
    cfg = dataclasses.replace(spec.expert, total_env_steps=256,
                              checkpoint_every_steps=128, net_arch=(8, 8),
                              ppo_kwargs={**envs._ZOO_HOPPER, "n_steps": 128})
    monkeypatch.setitem(envs.SPECS, "hopper", dataclasses.replace(spec, expert=cfg))


def test_train_checkpoint_and_resume(tmp_path, tiny_config):
    run = tmp_path / "run"
    ckpts = ex.train_expert("hopper", run, log=lambda m: None)
    assert [p.name for p in ckpts] == ["ckpt_00000128.safetensors", "ckpt_00000256.safetensors"]
    state = torch.load(run / ex.RESUME_FILE, weights_only=True)
    assert state["num_timesteps"] == 256
    with pytest.raises(FileExistsError, match="--resume"):
        ex.train_expert("hopper", run, log=lambda m: None)
    ckpts = ex.train_expert("hopper", run, total_env_steps=512, resume=True, log=lambda m: None)
    assert len(ckpts) == 4 and ckpts[-1].name == "ckpt_00000512.safetensors"
    stack, info = load_policies(ckpts[-1])
    assert info["env_steps"] == 512 and stack.hidden_sizes == (8, 8)


def test_select_levels_spans_targets_and_ends_at_best():
    scores = np.array([3.0, 95.0, 41.0, 18.0, 100.0, 62.0, 79.0, 99.0])
    levels = ex.select_levels(scores, (5, 20, 40, 60, 80, 100))
    assert levels == [0, 3, 2, 5, 6, 4]
    assert list(scores[levels]) == sorted(scores[levels])


def test_noisy_variants_raise_std_only():
    base = random_stack(4, 2, 1, log_std=-2.0)
    noisy = ex.noisy_variants(base, (0.3, 1.0))
    np.testing.assert_allclose(np.exp(noisy.log_std), [[0.3, 0.3], [1.0, 1.0]])
    obs = np.ones((2, 1, 4))
    np.testing.assert_allclose(noisy.mean_action(obs)[0], base.mean_action(obs[:1])[0])


def test_demonstrator_prefers_checkpoints_near_50():
    from mirrorpo.reference import pick_demonstrator_level

    ladder = [
        {"level": 0, "source": "a+std1", "score": 10.0},
        {"level": 1, "source": "b+std0.3", "score": 50.0},
        {"level": 2, "source": "ckpt_1", "score": 35.0},
        {"level": 3, "source": "ckpt_2", "score": 80.0},
    ]
    assert pick_demonstrator_level(ladder) == 2


@pytest.mark.parametrize("noise_stds", [(), (0.3, 1.0)])
def test_build_ladder_takes_noisy_copies_only_when_asked(tmp_path, noise_stds):
    """``noise_stds=()`` builds a ladder of training checkpoints only (HalfCheetah from suite
    v2); otherwise noisy copies of the best checkpoint join the candidates."""
    from mirrorpo.policies import save_policies

    spec = envs.get_spec("hopper")
    stack = random_stack(spec.obs_dim, spec.act_dim, 6, seed=5, log_std=-2.0)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"ckpt_{i:08d}.safetensors")
        save_policies(paths[-1], stack.select(i), {"env": "hopper", "env_steps": i})
    ladder, suite = ex.build_ladder("hopper", paths, episodes=2, final_episodes=3,
                                    rescreen_top=2, noise_stds=noise_stds, log=lambda m: None)
    sources = [c["source"] for c in suite["screening"]]
    assert len(sources) == 6 + len(noise_stds)
    assert suite["measurement"]["noise_stds"] == list(noise_stds)
    assert sum("+std" in s for s in sources) == len(noise_stds)
    if not noise_stds:
        assert all("+std" not in lv["source"] for lv in suite["ladder"])
    assert ladder.size == len(suite["ladder"])
