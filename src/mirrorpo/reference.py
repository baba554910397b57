"""The reference policy π_ref (the SFT analogue): behaviour cloning of a mid-ladder policy.

A Gaussian MLP (tanh, small enough for the population-batched PO trainer) is fitted by maximum
likelihood to (observation, action) pairs from episodes of one ladder policy with sampled
actions: minimise −E log N(a; μ_θ(s), diag σ²) over μ_θ and a state-independent log σ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mirrorpo.config import check, setting
from mirrorpo.envs import EnvSpec
from mirrorpo.evaluation import stacked_actor
from mirrorpo.policies import PolicyStack
from mirrorpo.rollout import reset_states, run_rollouts


@dataclass(frozen=True)
class ReferenceConfig:
    """Behaviour-cloning settings (each checked when built)."""

    hidden_sizes: tuple[int, ...] = setting((64, 64), cli=False,
                                            help="Hidden layer widths of the reference MLP "
                                                 "(tanh).")
    demo_episodes: int = setting(40, ge=1, help="Episodes of the demonstrator (sampled "
                                                "actions).")
    train_steps: int = setting(4000, ge=1, help="Adam steps of behaviour cloning.")
    batch_size: int = setting(512, ge=1, help="State-action pairs per Adam step.")
    learning_rate: float = setting(1e-3, gt=0, help="Adam learning rate.")
    seed: int = setting(0, ge=0, help="Seed of the demonstrations and the training.")

    def __post_init__(self):
        check(self)


def collect_demos(spec: EnvSpec, demonstrator: PolicyStack, episodes: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(obs, actions) from ``episodes`` sampled-action episodes, flattened over time."""
    qpos, qvel = reset_states(spec, 50_000 + seed + np.arange(episodes))
    roll = run_rollouts(spec, stacked_actor(demonstrator, episodes), qpos, qvel,
                        spec.max_episode_steps, np.random.default_rng(seed), record=True)
    alive = np.arange(spec.max_episode_steps)[None, :] < roll.lengths[:, None]
    return roll.obs[alive], roll.actions[alive]


def behaviour_clone(obs: np.ndarray, actions: np.ndarray, cfg: ReferenceConfig,
                    log=print, progress=None) -> PolicyStack:
    """Fit a Gaussian MLP to (obs, actions) by maximum likelihood; returns a 1-policy stack."""
    import torch

    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    mean = obs.mean(0)
    std = obs.std(0) + 1e-3
    x = torch.as_tensor((obs - mean) / std, dtype=torch.float32).clamp(-10, 10)
    y = torch.as_tensor(actions, dtype=torch.float32)
    sizes = (obs.shape[1], *cfg.hidden_sizes, actions.shape[1])
    layers: list[torch.nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    log_std = torch.nn.Parameter(torch.full((actions.shape[1],), -0.5))
    opt = torch.optim.Adam([*net.parameters(), log_std], lr=cfg.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.train_steps)
    for step in range(cfg.train_steps):
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=g)
        mu = net(x[idx])
        dist = torch.distributions.Normal(mu, log_std.exp())
        loss = -dist.log_prob(y[idx]).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(1)
        if step % 1000 == 0 or step == cfg.train_steps - 1:
            log(f"bc step {step}: nll {loss.item():.3f}")
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    return PolicyStack(
        weights=tuple(m.weight.detach().double().numpy().T[None].copy() for m in linears),
        biases=tuple(m.bias.detach().double().numpy()[None].copy() for m in linears),
        log_std=log_std.detach().double().numpy()[None].copy(),
        obs_mean=mean[None].astype(np.float64),
        obs_std=std[None].astype(np.float64),
        activation="tanh",
        clip_obs=10.0,
    )


def pick_demonstrator_level(ladder_info: list[dict], target_score: float = 50.0) -> int:
    """The ladder level scoring nearest ``target_score`` (mid-ladder), preferring training
    checkpoints over noise-injected copies (whose skill is mostly action noise)."""
    plain = [lv for lv in ladder_info if "+std" not in lv["source"]] or ladder_info
    best = min(plain, key=lambda lv: abs(lv["score"] - target_score))
    return int(best["level"])


def reference_record(cfg: ReferenceConfig, level: int, n_samples: int, score: dict) -> dict:
    """The ``reference`` entry of suite.json."""
    return {"config": asdict(cfg), "demonstrator_level": level, "demo_samples": n_samples,
            **score}
