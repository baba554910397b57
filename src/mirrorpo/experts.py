"""Expert training with stable-baselines3 PPO, and export of its checkpoints to policy stacks.

Algorithm choice (measured on the 2-core machine, Hopper-v5, one thread each): SB3 PPO trains at
~1,200 env-steps/s, SB3 SAC at ~90 env-steps/s. PPO with the RL-Zoo tuned settings reaches expert
returns in 1–3 M steps (15–45 min); SAC needs ~0.3–1 M steps (1–3 h). PPO gives more return per
CPU-hour here. Settings follow rl-baselines3-zoo's tuned MuJoCo entries (``hyperparams/ppo.yml``),
with VecNormalize observation statistics folded into the exported policy; each environment's
are its ``EnvSpec.expert`` (mirrorpo.envs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mirrorpo.envs import SPECS, ExpertConfig, get_spec
from mirrorpo.policies import PolicyStack, save_policies

EXPERT_CONFIGS: Mapping[str, ExpertConfig] = MappingProxyType(
    {name: spec.expert for name, spec in SPECS.items()})
"""Env name → its expert's PPO settings: a read-only view of ``EnvSpec.expert`` (set there)."""


def export_sb3_policy(model: Any, obs_mean: np.ndarray, obs_var: np.ndarray,
                      clip_obs: float, epsilon: float) -> PolicyStack:
    """A one-policy stack equal to an SB3 ``MlpPolicy`` actor behind ``VecNormalize``."""
    import torch.nn as nn

    policy = model.policy
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    linears.append(policy.action_net)
    net = policy.mlp_extractor.policy_net
    acts = {type(m).__name__ for m in net if not isinstance(m, nn.Linear)}
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


RESUME_FILE = "resume.pt"


def _running_stats(rms) -> dict:
    import torch

    return {"mean": torch.as_tensor(rms.mean), "var": torch.as_tensor(rms.var),
            "count": torch.tensor(float(rms.count))}


def _load_running_stats(rms, state: dict) -> None:
    rms.mean = state["mean"].numpy().astype(np.float64)
    rms.var = state["var"].numpy().astype(np.float64)
    rms.count = float(state["count"])


def train_expert(env_name: str, out_dir: Path, *, seed: int = 0,
                 total_env_steps: int | None = None, resume: bool = False,
                 checkpoint_every_steps: int | None = None,
                 log=print, progress=None) -> list[Path]:
    """Train PPO on ``env_name``, saving a policy checkpoint every ``checkpoint_every_steps``
    env steps (default: the env's ``ExpertConfig``; denser checkpoints give the low rungs of a
    ladder without noise-injected copies).

    Returns all checkpoint paths (``ckpt_<steps>.safetensors`` in ``out_dir``). With every
    checkpoint the full training state (policy, value net, optimizer, normalisation statistics,
    step count) is written to ``resume.pt`` (tensors only; read back with
    ``torch.load(weights_only=True)``); ``resume=True`` continues from it. A resumed run
    continues the training but does not replay the exact random stream of an uninterrupted one.
    """
    import torch
    import torch.nn as nn
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    spec = get_spec(env_name)
    cfg = spec.expert
    steps = int(total_env_steps or cfg.total_env_steps)
    every = int(checkpoint_every_steps or cfg.checkpoint_every_steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume_path = out_dir / RESUME_FILE
    if resume_path.exists() and not resume:
        raise FileExistsError(f"{out_dir}: holds a training run (use --resume to continue it)")
    torch.manual_seed(seed)
    venv = VecNormalize(DummyVecEnv([lambda: Monitor(spec.make())]), norm_obs=True,
                        norm_reward=True)
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
    done_steps = 0
    if resume and resume_path.exists():
        state = torch.load(resume_path, weights_only=True)
        if state["env"] != spec.name:
            raise ValueError(f"{resume_path}: is a {state['env']} run, not {spec.name}")
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["optimizer"])
        _load_running_stats(venv.obs_rms, state["obs_rms"])
        _load_running_stats(venv.ret_rms, state["ret_rms"])
        done_steps = int(state["num_timesteps"])
        model.num_timesteps = done_steps
        log(f"resuming {spec.name} from {done_steps} steps")
    t0 = time.time()

    def save_state(n: int) -> None:
        tmp = resume_path.with_suffix(".tmp")
        torch.save({"env": spec.name, "num_timesteps": n,
                    "policy": model.policy.state_dict(),
                    "optimizer": model.policy.optimizer.state_dict(),
                    "obs_rms": _running_stats(venv.obs_rms),
                    "ret_rms": _running_stats(venv.ret_rms)}, tmp)
        tmp.replace(resume_path)

    if progress is not None:
        progress(done_steps)

    class _Checkpoint(BaseCallback):
        def _on_step(self) -> bool:
            n = self.num_timesteps
            if progress is not None:
                progress(1)
            if n % every == 0 or n == steps:
                stack = export_sb3_policy(
                    model, venv.obs_rms.mean, venv.obs_rms.var, venv.clip_obs, venv.epsilon
                )
                path = out_dir / f"ckpt_{n:08d}.safetensors"
                save_policies(path, stack, {"env": spec.name, "env_steps": n, "seed": seed})
                save_state(n)
                ep = [e["r"] for e in model.ep_info_buffer] or [float("nan")]
                rate = (n - done_steps) / (time.time() - t0)
                log(f"{spec.name} {n} steps, train return {np.mean(ep):.0f}, {rate:.0f} steps/s")
            return True

    if steps > done_steps:
        model.learn(total_timesteps=steps - done_steps, callback=_Checkpoint(),
                    reset_num_timesteps=False)
    (out_dir / "train.json").write_text(
        json.dumps(
            {"env": spec.name, "seed": seed, "total_env_steps": steps,
             "resumed_from_steps": done_steps, "wall_s": time.time() - t0, "algo": "sb3-ppo",
             "checkpoint_every_steps": every,
             "ppo_kwargs": cfg.ppo_kwargs, "net_arch": cfg.net_arch,
             "activation": cfg.activation},
            indent=2,
        )
    )
    return sorted(out_dir.glob("ckpt_*.safetensors"))


def _sb3_version() -> str:
    import stable_baselines3

    return stable_baselines3.__version__


# ----------------------------------------------------------------------------- the ladder


def select_levels(scores: np.ndarray, targets: tuple[float, ...]) -> list[int]:
    """Indices of checkpoints whose scores are nearest each target, distinct, in target order.

    ``scores`` (C,) normalised scores of the candidates; targets ascending. The top target is
    always the best candidate (the expert).
    """
    chosen: list[int] = []
    order = np.argsort(scores)
    best = int(order[-1])
    for target in targets[:-1]:
        free = [i for i in range(len(scores)) if i not in chosen and i != best]
        if not free:
            break
        i = min(free, key=lambda j: abs(scores[j] - target))
        chosen.append(int(i))
    chosen.append(best)
    return sorted(dict.fromkeys(chosen), key=lambda i: scores[i])


LADDER_TARGETS = (5.0, 20.0, 40.0, 60.0, 80.0, 100.0)
NOISE_STDS = (0.15, 0.2, 0.3, 0.45, 0.6, 1.0)


def noisy_variants(policy: PolicyStack, stds: tuple[float, ...]) -> PolicyStack:
    """Copies of a one-policy stack whose action std is raised to each of ``stds``."""
    rep = policy.repeat(len(stds))
    log_std = np.maximum(rep.log_std, np.log(np.asarray(stds))[:, None])
    return PolicyStack(rep.weights, rep.biases, log_std, rep.obs_mean, rep.obs_std,
                       rep.activation, rep.clip_obs)


def build_ladder(
    env_name: str,
    checkpoints: list[Path],
    *,
    episodes: int = 10,
    final_episodes: int = 30,
    seed: int = 0,
    targets: tuple[float, ...] = LADDER_TARGETS,
    rescreen_top: int = 4,
    noise_stds: tuple[float, ...] = NOISE_STDS,
    log=print,
) -> tuple[PolicyStack, dict]:
    """Choose a ladder of graded skill among training checkpoints and measure it.

    Screening uses ``episodes`` episodes per candidate on seeds ``seed + k``; the
    ``rescreen_top`` best are screened again with ``final_episodes`` episodes (seeds
    ``seed + 5_000 + k``) to pick the expert robustly. The chosen levels are then re-measured
    on fresh seeds (``seed + 10_000 + k``, ``final_episodes`` each) and ordered by that
    measurement, so stored returns carry no screening bias and the ladder is graded by them;
    the top level is the expert. Random return: uniform actions, ``final_episodes`` episodes.

    Noise-injected copies of the best screened checkpoint (action std floored at each of
    ``noise_stds``) join the candidates to fill low rungs that checkpoints miss; with
    ``noise_stds=()`` the ladder holds training checkpoints only (HalfCheetah from suite v2:
    a noisy copy is the expert's mean plus noise, so imitating its segments teaches noise).
    """
    from mirrorpo.evaluation import episode_returns, random_policy_returns
    from mirrorpo.policies import concat, load_policies
    from mirrorpo.stats import bootstrap_ci, normalized_score

    spec = get_spec(env_name)
    loaded = [load_policies(p) for p in checkpoints]
    stack = concat([s for s, _ in loaded])
    steps = [int(info.get("env_steps", 0)) for _, info in loaded]
    names = [Path(p).name for p in checkpoints]
    screen = episode_returns(spec, stack, episodes, seed).mean(axis=1)
    # Noise-injected copies of the best checkpoint fill the low rungs that checkpoints may miss.
    top = int(np.argmax(screen))
    # only floors above the policy's smallest std change it; others would duplicate it
    stds = tuple(s for s in noise_stds if s > np.exp(stack.log_std[top]).min() * 1.01)
    if stds:
        noisy = noisy_variants(stack.select(top), stds)
        stack = concat([stack, noisy])
        steps += [steps[top]] * noisy.size
        names += [f"{names[top]}+std{s:g}" for s in stds]
        screen = np.concatenate(
            [screen, episode_returns(spec, noisy, episodes, seed).mean(axis=1)])
    random_ret = random_policy_returns(spec, final_episodes, seed + 20_000)
    r_rand = float(random_ret.mean())
    # Winner's curse: a 10-episode screen overrates lucky candidates, so re-screen the top few.
    top_few = np.argsort(screen)[-rescreen_top:]
    screen[top_few] = episode_returns(
        spec, stack.select(top_few), final_episodes, seed + 5_000).mean(axis=1)
    best = int(np.argmax(screen))
    screen_scores = normalized_score(screen, r_rand, float(screen[best]))
    levels = select_levels(screen_scores, targets)
    final = episode_returns(spec, stack.select(levels), final_episodes, seed + 10_000)
    order = np.argsort(final.mean(axis=1), kind="stable")
    levels = [levels[i] for i in order]
    final = final[order]
    ladder = stack.select(levels)
    r_exp = float(final[-1].mean())
    scores = normalized_score(final, r_rand, r_exp)
    lo, hi = bootstrap_ci(scores)
    info = []
    for j, i in enumerate(levels):
        info.append({
            "level": j,
            "source": names[i],
            "env_steps": steps[i],
            "return_mean": float(final[j].mean()),
            "return_std": float(final[j].std()),
            "score": float(scores[j].mean()),
            "score_ci95": [float(lo[j]), float(hi[j])],
        })
        log(f"level {j}: {names[i]} return {final[j].mean():.0f} "
            f"score {scores[j].mean():.1f}")
    suite = {
        "env": spec.name,
        "gym_id": spec.gym_id,
        "gym_kwargs": spec.gym_kwargs,
        "random_return": r_rand,
        "random_return_std": float(random_ret.std()),
        "expert_return": r_exp,
        "expert_return_std": float(final[-1].std()),
        "ladder": info,
        "expert_training": {"algo": "stable-baselines3 PPO", "sb3_version": _sb3_version(),
                            **asdict(spec.expert)},
        "measurement": {
            "episodes": final_episodes,
            "seeds": f"{seed + 10_000}..{seed + 10_000 + final_episodes - 1}",
            "actions": "sampled",
            "expert": "top ladder level",
            "screening_episodes": episodes,
            "noise_stds": list(stds),
            "rescreen": f"top {rescreen_top} re-screened with {final_episodes} episodes, "
                        f"seeds {seed + 5_000}..; levels ordered by the final measurement",
        },
        "screening": [
            {"source": n, "env_steps": s, "return_mean": float(r)}
            for n, s, r in zip(names, steps, screen, strict=True)
        ],
    }
    return ladder, suite
