"""Evaluation of many policies at once by environment return.

A population of P policies is evaluated on K episodes each in one batched rollout of P·K
simulator copies. Episode k of every policy starts from the state ``env.reset(seed=seed + k)``
gives, and its action noise comes from its own generator, ``default_rng([seed, k])``: common
random numbers across policies, and a policy's score does not depend on which other policies
share the batch. The primary metric uses sampled actions; mean actions are reported beside.

The simulation always runs on the CPU; with ``device="cuda"`` the policies act on the GPU,
all P·K copies in one batch per step (:func:`torch_actor`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mirrorpo.config import check, setting
from mirrorpo.envs import EnvSpec, get_spec
from mirrorpo.policies import PolicyStack
from mirrorpo.rollout import Actor, reset_states, run_rollouts
from mirrorpo.stats import bootstrap_ci, normalized_score


def stacked_actor(stack: PolicyStack, copies_per_policy: int) -> Actor:
    """Actor for P·K copies laid out policy-major (copy p·K + k belongs to policy p)."""
    p, k = stack.size, copies_per_policy

    def act(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        a = stack.sample(obs.reshape(p, k, -1), noise.reshape(p, k, -1))
        return a.reshape(p * k, -1)

    return act


def torch_actor(stack: PolicyStack, copies_per_policy: int, device: str) -> Actor:
    """``stacked_actor`` computed by torch on ``device``: each step sends the (P·K, O)
    observations and noise there and brings the actions back, a = MLP(z) + e^(log σ)·ε.

    The arithmetic is that of ``PolicyStack.sample`` (normalisers and noise in float64, the
    MLP in the weights' dtype), so actions agree with the numpy actor to float rounding.
    """
    import torch

    dev = torch.device(device)
    t = lambda a: torch.as_tensor(np.asarray(a), device=dev)  # noqa: E731
    weights = [t(w) for w in stack.weights]
    biases = [t(b)[:, None, :] for b in stack.biases]
    obs_mean, obs_std = t(stack.obs_mean)[:, None, :], t(stack.obs_std)[:, None, :]
    std = torch.exp(t(stack.log_std))[:, None, :]
    hidden = torch.tanh if stack.activation == "tanh" else torch.relu
    p, k, c = stack.size, copies_per_policy, stack.clip_obs

    def act(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = ((t(obs).reshape(p, k, -1) - obs_mean) / obs_std).clamp(-c, c)
            x = x.to(weights[0].dtype)  # (P, K, O)
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                x = torch.matmul(x, w) + b  # (P, K, out_i)
                if i < len(weights) - 1:
                    x = hidden(x)
            a = x + std * t(noise).reshape(p, k, -1)
            return a.reshape(p * k, -1).cpu().numpy()

    return act


def population_actor(stack: PolicyStack, copies_per_policy: int, device: str = "cpu") -> Actor:
    """The numpy ``stacked_actor`` on the CPU, ``torch_actor`` on any other device."""
    if device == "cpu":
        return stacked_actor(stack, copies_per_policy)
    return torch_actor(stack, copies_per_policy, device)


def grouped_actor(stack: PolicyStack, policy_index: np.ndarray) -> Actor:
    """Actor where copy i is driven by policy ``policy_index[i]`` of the stack."""
    groups = [(stack.select(p), np.flatnonzero(policy_index == p))
              for p in np.unique(policy_index)]

    def act(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        out = np.zeros((len(obs), stack.act_dim))
        for one, rows in groups:
            out[rows] = one.sample(obs[None, rows], noise[None, rows])[0]
        return out

    return act


def episode_noise_streams(seed: int, episodes: int) -> list[np.random.Generator]:
    """The action-noise generator of each evaluation episode k: ``default_rng([seed, k])``."""
    return [np.random.default_rng([seed, k]) for k in range(episodes)]


def episode_returns(
    spec: EnvSpec,
    stack: PolicyStack,
    episodes: int,
    seed: int,
    *,
    deterministic: bool = False,
    nthread: int | None = None,
    progress: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Undiscounted episode returns (P, K) of every policy in the stack; the policies act on
    ``device`` (:func:`population_actor`)."""
    seeds = np.tile(seed + np.arange(episodes), stack.size)
    qpos, qvel = reset_states(spec, seeds)
    rng = None if deterministic else episode_noise_streams(seed, episodes)
    out = run_rollouts(
        spec, population_actor(stack, episodes, device), qpos, qvel, spec.max_episode_steps,
        rng, stream_index=np.tile(np.arange(episodes), stack.size), nthread=nthread,
        progress=progress,
    )
    return out.returns.reshape(stack.size, episodes)


@dataclass(frozen=True)
class PolicyScore:
    """One policy's evaluation: normalised score mean and 95% bootstrap CI, both modes."""

    sampled_mean: float
    sampled_ci: tuple[float, float]
    mean_action_mean: float
    mean_action_ci: tuple[float, float]
    sampled_return: float
    mean_action_return: float

    def as_dict(self) -> dict:
        return {
            "score_sampled": self.sampled_mean,
            "score_sampled_ci95": list(self.sampled_ci),
            "score_mean_action": self.mean_action_mean,
            "score_mean_action_ci95": list(self.mean_action_ci),
            "return_sampled": self.sampled_return,
            "return_mean_action": self.mean_action_return,
        }

    @staticmethod
    def json_keys() -> tuple[str, ...]:
        """The keys of ``as_dict``."""
        return ("score_sampled", "score_sampled_ci95", "score_mean_action",
                "score_mean_action_ci95", "return_sampled", "return_mean_action")


def score_population(
    spec: EnvSpec,
    stack: PolicyStack,
    random_return: float,
    expert_return: float,
    *,
    episodes: int = 10,
    seed: int = 0,
    nthread: int | None = None,
    progress: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> list[PolicyScore]:
    """Normalised scores with sampled (primary) and mean actions, CI per policy."""
    sampled = episode_returns(spec, stack, episodes, seed, nthread=nthread, progress=progress,
                              device=device)
    mean_act = episode_returns(
        spec, stack, episodes, seed, deterministic=True, nthread=nthread, progress=progress,
        device=device,
    )
    s_score = normalized_score(sampled, random_return, expert_return)
    m_score = normalized_score(mean_act, random_return, expert_return)
    s_lo, s_hi = bootstrap_ci(s_score)
    m_lo, m_hi = bootstrap_ci(m_score)
    return [
        PolicyScore(
            float(s_score[i].mean()), (float(s_lo[i]), float(s_hi[i])),
            float(m_score[i].mean()), (float(m_lo[i]), float(m_hi[i])),
            float(sampled[i].mean()), float(mean_act[i].mean()),
        )
        for i in range(stack.size)
    ]


def random_policy_returns(spec: EnvSpec, episodes: int, seed: int) -> np.ndarray:
    """Returns of uniformly random actions in the action box. (episodes,)"""
    qpos, qvel = reset_states(spec, seed + np.arange(episodes))
    rng = np.random.default_rng(seed)
    low, high = spec.action_low, spec.action_high

    def act(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return low + (high - low) * rng.random(noise.shape)

    return run_rollouts(spec, act, qpos, qvel, spec.max_episode_steps, None).returns


Scorer = Callable[[PolicyStack, int], tuple[np.ndarray, np.ndarray]]
"""(policies, eval seed) → (sampled scores, mean-action scores), each (P,); e.g.
:class:`NormalisedScorer`."""


@dataclass(frozen=True)
class NormalisedScorer:
    """(policies, eval seed) → (sampled, mean-action) mean normalised scores, (P,) each.

    Plain data, so it pickles to Ray workers; the mean-action pass is skipped (NaN) when
    ``mean_action`` is off, e.g. for ES fitness, which uses sampled actions only. ``device``:
    where the policies act (the trainer's ``TrainConfig.device``).
    """

    env: str
    random_return: float
    expert_return: float
    episodes: int = 10
    mean_action: bool = True
    nthread: int | None = None
    device: str = "cpu"

    @classmethod
    def for_env(cls, env: str, episodes: int = 10, **kwargs) -> NormalisedScorer:
        """The scorer of a suite environment, with its shipped random and expert returns."""
        from mirrorpo.assets import load_suite_info

        info = load_suite_info(env)
        return cls(env, info.random_return, info.expert_return, episodes, **kwargs)

    def __call__(self, stack: PolicyStack, seed: int) -> tuple[np.ndarray, np.ndarray]:
        spec = get_spec(self.env)
        sampled = episode_returns(spec, stack, self.episodes, seed, nthread=self.nthread,
                                  device=self.device)
        s = normalized_score(sampled, self.random_return, self.expert_return).mean(axis=1)
        if not self.mean_action:
            return s, np.full(stack.size, np.nan)
        mean_act = episode_returns(spec, stack, self.episodes, seed, deterministic=True,
                                   nthread=self.nthread, device=self.device)
        return s, normalized_score(mean_act, self.random_return, self.expert_return).mean(axis=1)


@dataclass(frozen=True)
class EvalConfig:
    """How policies are scored by ``mirrorpo eval`` / :func:`mirrorpo.api.evaluate`."""

    episodes: int = setting(10, ge=2, help="Evaluation episodes per policy.")
    seed: int = setting(100_000, ge=0, help="Episode k starts from env.reset(seed=SEED+k).")

    def __post_init__(self):
        check(self)


def score_policies(env: str, stack: PolicyStack, *, episodes: int = 10, seed: int = 0,
                   nthread: int | None = None, progress=None,
                   device: str = "cpu") -> list[PolicyScore]:
    """:func:`score_population` of every policy in ``stack`` on suite env ``env``, normalised
    by its shipped random and expert returns. ``progress`` is a mirrorpo.progress.Progress."""
    from mirrorpo.assets import load_suite_info
    from mirrorpo.progress import no_progress

    spec, info = get_spec(env), load_suite_info(env)
    if stack.obs_dim != spec.obs_dim or stack.act_dim != spec.act_dim:
        raise ValueError(f"policies are for observation/action dims {stack.obs_dim}/"
                         f"{stack.act_dim}, env {env} has {spec.obs_dim}/{spec.act_dim}")
    progress = progress or no_progress
    with progress(f"eval {stack.size}×{episodes}", 2 * spec.max_episode_steps) as advance:
        return score_population(spec, stack, info.random_return, info.expert_return,
                                episodes=episodes, seed=seed, nthread=nthread,
                                progress=advance, device=device)
