"""The device setting: cuda refused in one line where torch sees no GPU, configs without it read
as cpu, the torch actor acts as the numpy one, and the GPU check's CPU dry run."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mirrorpo.cli import main
from mirrorpo.config import ConfigError
from mirrorpo.envs import get_spec
from mirrorpo.evaluation import episode_noise_streams, stacked_actor, torch_actor
from mirrorpo.losses import get_loss
from mirrorpo.rollout import reset_states, run_rollouts
from mirrorpo.training.population import TrainConfig, require_device, train_population
from tests.conftest import random_stack

ROOT = Path(__file__).resolve().parents[1]
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")


@no_gpu
def test_cuda_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"^TrainConfig\.device: cuda"):
        require_device("cuda")
    # empty data: a check made after any work would fail on the data (KeyError), not here
    with pytest.raises(ConfigError, match=r"^TrainConfig\.device"):
        train_population(random_stack(11, 3, 1), {}, [get_loss("dpo")], [0],
                         TrainConfig(steps=1, device="cuda"))


@no_gpu
@pytest.mark.parametrize("command", [
    ["bench", "--data-root", "{tmp}/no-data"],
    ["search", "--data", "{tmp}/no-data"],
])
def test_cli_refuses_cuda_in_one_line_before_writing(tiny_assets, tmp_path, command):
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path) for a in command] + ["--device", "cuda", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "error: --device: cuda" in res.output and res.output.count("\n") == 1, res.output
    assert not out.exists()


def test_device_flag_and_configs_saved_without_it():
    assert "--device [cpu|cuda]" in CliRunner().invoke(main, ["train", "--help"]).output
    saved = TrainConfig(steps=7).to_json()
    assert "device" not in saved  # cpu configs are written as before the setting existed
    assert TrainConfig.from_json(saved) == TrainConfig(steps=7)
    cuda = TrainConfig(device="cuda")  # builds anywhere: the GPU is checked when work starts
    assert cuda.to_json()["device"] == "cuda" and TrainConfig.from_json(cuda.to_json()) == cuda
    with pytest.raises(ConfigError, match=r"TrainConfig\.device"):
        TrainConfig(device="tpu")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_torch_actor_on_cpu_matches_numpy_actor(activation, dtype, tol):
    st = random_stack(11, 3, 3, hidden=(16, 16), seed=4)
    st = replace(st, activation=activation, weights=tuple(w.astype(dtype) for w in st.weights),
                 biases=tuple(b.astype(dtype) for b in st.biases))
    rng = np.random.default_rng(0)
    obs, noise = 3 * rng.normal(size=(12, 11)), rng.normal(size=(12, 3))
    want = stacked_actor(st, 4)(obs, noise)
    got = torch_actor(st, 4, "cpu")(obs, noise)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert np.abs(want).max() > 0.5  # not a trivially small action


def test_torch_actor_rollouts_match_numpy_actor():
    spec = get_spec("hopper")
    st = random_stack(spec.obs_dim, spec.act_dim, 2, seed=5)
    qpos, qvel = reset_states(spec, np.tile(7 + np.arange(2), 2))
    returns = [run_rollouts(spec, actor, qpos, qvel, 60, episode_noise_streams(7, 2),
                            stream_index=np.tile(np.arange(2), 2)).returns
               for actor in (stacked_actor(st, 2), torch_actor(st, 2, "cpu"))]
    np.testing.assert_allclose(returns[1], returns[0], rtol=1e-9)


def test_gpu_check_cpu_smoke(tmp_path):
    """benchmarks/gpu_check.py's every phase, on the CPU at tiny sizes."""
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke",
                           "--threads", "1", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    fig = json.loads(out.read_text())
    assert fig["mode"] == "cpu-smoke" and fig["dataset"]["pairs"] == 32
    agree = fig["agreement"]  # cpu against cpu: the same arithmetic
    assert agree["train_valid_rows_max_abs_param_diff"] == 0.0
    assert agree["train_padded_max_abs_param_diff"] == 0.0
    assert agree["actor_max_abs_action_diff"] < 1e-9
    assert agree["rollout_max_abs_return_diff"] < 1e-6
    assert fig["batched_vs_sequential"]["batched_s_per_step"] > 0
    assert fig["cpu"]["cpu_1_threads_s_per_step"] > 0
    fit = fig["fitness"]
    assert fit["steps"] == 4 and fit["failed_members"] == 0
    assert np.isfinite(fit["eval_cpu_actor_mean_score"]) and fit["train_s"] > 0
