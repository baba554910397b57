"""Expert training with stable-baselines3 PPO, and export of its checkpoints to policy stacks.

Algorithm choice (measured on the 2-core machine, Hopper-v5, one thread each): SB3 PPO trains at
~1,200 env-steps/s, SB3 SAC at ~90 env-steps/s. PPO with the RL-Zoo tuned settings reaches expert
returns in 1–3 M steps (15–45 min); SAC needs ~0.3–1 M steps (1–3 h). PPO gives more return per
CPU-hour here. Settings follow rl-baselines3-zoo's tuned MuJoCo entries (``hyperparams/ppo.yml``),
with VecNormalize observation statistics folded into the exported policy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirrorpo.envs import get_spec
from mirrorpo.policies import PolicyStack, save_policies


@dataclass(frozen=True)
class ExpertConfig:
    """PPO settings for one environment (RL-Zoo names)."""

    total_env_steps: int
    checkpoint_every_steps: int = 50_000
    ppo_kwargs: dict[str, Any] = field(default_factory=dict)
    net_arch: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    log_std_init: float = 0.0
    ortho_init: bool = True


_ZOO_HOPPER = dict(
    n_steps=512, batch_size=32, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519,
    clip_range=0.2, n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671,
)
_ZOO_CHEETAH = dict(
    n_steps=512, batch_size=64, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762,
    clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096,
)
_ZOO_WALKER = dict(
    n_steps=512, batch_size=32, gamma=0.99, learning_rate=5.05041e-05, ent_coef=0.000585045,
    clip_range=0.1, n_epochs=20, gae_lambda=0.95, max_grad_norm=1.0, vf_coef=0.871923,
)

EXPERT_CONFIGS: dict[str, ExpertConfig] = {
    "hopper": ExpertConfig(
        2_000_000, ppo_kwargs=_ZOO_HOPPER, net_arch=(256, 256), activation="relu",
        log_std_init=-2.0, ortho_init=False,
    ),
    "halfcheetah": ExpertConfig(
        2_000_000, ppo_kwargs=_ZOO_CHEETAH, net_arch=(256, 256), activation="relu",
        log_std_init=-2.0, ortho_init=False,
    ),
    "walker2d": ExpertConfig(2_000_000, ppo_kwargs=_ZOO_WALKER),
    "ant": ExpertConfig(3_000_000, ppo_kwargs=dict(n_steps=2048, batch_size=64, n_epochs=10)),
}


def export_sb3_policy(model: Any, obs_mean: np.ndarray, obs_var: np.ndarray,
                      clip_obs: float, epsilon: float) -> PolicyStack:
    """A one-policy stack equal to an SB3 ``MlpPolicy`` actor behind ``VecNormalize``."""
    import torch.nn as nn

    policy = model.policy
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    linears.append(policy.action_net)
    acts = {type(m).__name__ for m in policy.mlp_extractor.policy_net if not isinstance(m, nn.Linear)}
    activation = "relu" if acts == {"ReLU"} else "tanh"
    weights = tuple(lin.weight.detach().double().numpy().T[None].copy() for lin in linears)
    biases = tuple(lin.bias.detach().double().numpy()[None].copy() for lin in linears)
    return PolicyStack(
        weights=weights,
        biases=biases,
        log_std=policy.log_std.detach().double().numpy()[None].copy(),
        obs_mean=np.asarray(obs_mean, dtype=np.float64)[None].copy(),
        obs_std=np.sqrt(np.asarray(obs_var, dtype=np.float64) + epsilon)[None].copy(),
        activation=activation,
        clip_obs=float(clip_obs),
    )


def train_expert(env_name: str, out_dir: Path, *, seed: int = 0,
                 total_env_steps: int | None = None, log=print) -> list[Path]:
    """Train PPO on ``env_name``, saving a policy checkpoint every ``checkpoint_every_steps``.

    Returns the checkpoint paths (``ckpt_<steps>.safetensors`` in ``out_dir``). Checkpoints
    already present are kept; training is not resumed (PPO state is not checkpointed).
    """
    import torch
    import torch.nn as nn
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    spec = get_spec(env_name)
    cfg = EXPERT_CONFIGS[spec.name]
    steps = int(total_env_steps or cfg.total_env_steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    venv = VecNormalize(DummyVecEnv([lambda: spec.make()]), norm_obs=True, norm_reward=True)
    venv.seed(seed)
    model = PPO(
        "MlpPolicy",
        venv,
        seed=seed,
        device="cpu",
        verbose=0,
        policy_kwargs=dict(
            net_arch=dict(pi=list(cfg.net_arch), vf=list(cfg.net_arch)),
            activation_fn=nn.ReLU if cfg.activation == "relu" else nn.Tanh,
            log_std_init=cfg.log_std_init,
            ortho_init=cfg.ortho_init,
        ),
        **cfg.ppo_kwargs,
    )
    saved: list[Path] = []
    t0 = time.time()

    class _Checkpoint(BaseCallback):
        def _on_step(self) -> bool:
            n = self.num_timesteps
            if n % cfg.checkpoint_every_steps == 0 or n == steps:
                stack = export_sb3_policy(
                    model, venv.obs_rms.mean, venv.obs_rms.var, venv.clip_obs, venv.epsilon
                )
                path = out_dir / f"ckpt_{n:08d}.safetensors"
                save_policies(path, stack, {"env": spec.name, "env_steps": n, "seed": seed})
                saved.append(path)
                ep = [e["r"] for e in model.ep_info_buffer] if model.ep_info_buffer else [0.0]
                rate = n / (time.time() - t0)
                log(f"{spec.name} {n} steps, train return {np.mean(ep):.0f}, {rate:.0f} steps/s")
            return True

    model.learn(total_timesteps=steps, callback=_Checkpoint())
    (out_dir / "train.json").write_text(
        json.dumps(
            {"env": spec.name, "seed": seed, "total_env_steps": steps,
             "wall_s": time.time() - t0, "algo": "sb3-ppo", "ppo_kwargs": cfg.ppo_kwargs,
             "net_arch": cfg.net_arch, "activation": cfg.activation},
            indent=2,
        )
    )
    return saved
