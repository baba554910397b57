"""Population-batched preference optimisation of Gaussian MLP policies.

P members (losses × seeds) start from the same reference policy and train in one vectorised
run: every weight is a stacked tensor with a leading member axis, one ``torch.baddbmm`` per
layer serves all members, and Adam — element-wise — keeps members independent. Each member
draws its own minibatches from its own seed, clips its own gradient norm, and is marked failed
(and frozen) if its loss or gradient goes non-finite while the others go on.

Continuous actions (DESIGN.md §3): a Gaussian log-*density* can exceed 0, where log-odds is
undefined, so the log-likelihood of a segment is that of the action *mass* at resolution δ per
action dimension: ℓ = Σ_t min(log N(a_t; μ(s_t), σ²) + d·log δ, −1e-8). DPO-style losses are
unchanged by the shift (it cancels in the margin); ORPO/SimPO/MPO inputs become probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from mirrorpo.losses.registry import BatchLoss, PreferenceBatch
from mirrorpo.policies import LOG_2PI, PolicyStack

MAX_STEP_LOGP = -1e-8


class PopulationPolicy(torch.nn.Module):
    """P Gaussian MLP policies with stacked parameters; tanh or relu hidden layers."""

    def __init__(self, stack: PolicyStack, dtype: torch.dtype = torch.float32):
        super().__init__()
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(t(w)) for w in stack.weights])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(t(b)) for b in stack.biases])
        self.log_std = torch.nn.Parameter(t(stack.log_std))
        self.register_buffer("obs_mean", t(stack.obs_mean))
        self.register_buffer("obs_std", t(stack.obs_std))
        self.activation = stack.activation
        self.clip_obs = stack.clip_obs

    @property
    def size(self) -> int:
        return int(self.log_std.shape[0])

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (P, N, O) → Gaussian means (P, N, A)."""
        act = torch.tanh if self.activation == "tanh" else torch.relu
        x = ((obs - self.obs_mean[:, None]) / self.obs_std[:, None]).clamp(
            -self.clip_obs, self.clip_obs)
        n_layers = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b[:, None, :], x, w)  # (P, N, out_i)
            if i < n_layers - 1:
                x = act(x)
        return x

    def log_density(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log N(a; μ(s), diag σ²) summed over action dims: (P, N, O), (P, N, A) → (P, N)."""
        z = (actions - self.mean_action(obs)) * torch.exp(-self.log_std)[:, None]
        return (-0.5 * z * z - self.log_std[:, None] - 0.5 * LOG_2PI).sum(-1)

    def to_stack(self) -> PolicyStack:
        n = lambda p: p.detach().double().cpu().numpy()  # noqa: E731
        return PolicyStack(
            weights=tuple(n(w) for w in self.weights),
            biases=tuple(n(b) for b in self.biases),
            log_std=n(self.log_std),
            obs_mean=n(self.obs_mean),
            obs_std=n(self.obs_std),
            activation=self.activation,
            clip_obs=self.clip_obs,
        )


def segment_logps(policy: PopulationPolicy, obs: torch.Tensor, actions: torch.Tensor,
                  lengths: torch.Tensor, log_resolution: float) -> torch.Tensor:
    """Per-member segment log-likelihood of action masses (module docstring).

    obs (P, B, H, O), actions (P, B, H, A), lengths (P, B) → (P, B).
    """
    p, b, h, o = obs.shape
    d = actions.shape[-1]
    step = policy.log_density(obs.reshape(p, b * h, o), actions.reshape(p, b * h, d))
    step = (step.reshape(p, b, h) + d * log_resolution).clamp(max=MAX_STEP_LOGP)
    mask = torch.arange(h, device=obs.device)[None, None, :] < lengths[..., None]
    return (step * mask).sum(-1)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one population-batched PO run."""

    steps: int = 2000
    """Optimiser steps per member."""
    batch_pairs: int = 64
    """Pairs per minibatch per member."""
    learning_rate: float = 3e-4
    max_grad_norm: float = 1.0
    """Per-member gradient-norm clip."""
    action_resolution: float = 0.01
    """δ: action resolution per dimension for log-masses."""
    log_every: int = 50


@dataclass
class TrainLog:
    """Per-member curves, each (n_logs, P): loss, chosen/rejected log-likelihood, margin."""

    steps: list[int] = field(default_factory=list)
    loss: list[np.ndarray] = field(default_factory=list)
    chosen_logps: list[np.ndarray] = field(default_factory=list)
    rejected_logps: list[np.ndarray] = field(default_factory=list)
    reward_margin: list[np.ndarray] = field(default_factory=list)


@dataclass
class TrainResult:
    policy: PopulationPolicy
    failed: np.ndarray
    """(P,) bool: member hit a non-finite loss or gradient."""
    fail_reason: list[str | None]
    log: TrainLog


def train_population(
    reference: PolicyStack,
    data: dict[str, np.ndarray],
    losses: list[BatchLoss],
    seeds: list[int],
    cfg: TrainConfig,
    *,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train one member per (loss, seed) pair from the reference on a preference dataset.

    ``data`` holds the dataset arrays (see mirrorpo.data.dataset.SCHEMA); ``losses[i]`` and
    ``seeds[i]`` define member i.
    """
    if len(losses) != len(seeds):
        raise ValueError("one seed per member loss")
    n_members = len(losses)
    policy = PopulationPolicy(reference.repeat(n_members), dtype=dtype)
    ref = PopulationPolicy(reference, dtype=dtype)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    obs = {s: t(data[f"{s}_obs"]) for s in ("chosen", "rejected")}
    act = {s: t(data[f"{s}_actions"]) for s in ("chosen", "rejected")}
    length = {s: torch.as_tensor(data[f"{s}_length"]).long() for s in ("chosen", "rejected")}
    log_res = float(np.log(cfg.action_resolution))
    with torch.no_grad():
        ref_logps = {
            s: segment_logps(ref, obs[s][None], act[s][None], length[s][None], log_res)[0]
            for s in ("chosen", "rejected")
        }
    n_pairs = len(length["chosen"])
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    failed = np.zeros(n_members, dtype=bool)
    reasons: list[str | None] = [None] * n_members
    log = TrainLog()
    for step in range(cfg.steps):
        idx = torch.stack([torch.randint(0, n_pairs, (cfg.batch_pairs,), generator=g)
                           for g in gens])  # (P, B)
        logps = {
            s: segment_logps(policy, obs[s][idx], act[s][idx], length[s][idx], log_res)
            for s in ("chosen", "rejected")
        }
        tau = torch.tensor(step / max(cfg.steps - 1, 1), dtype=dtype)
        member_loss = torch.stack([
            losses[m](PreferenceBatch(
                logps["chosen"][m], logps["rejected"][m],
                ref_logps["chosen"][idx[m]], ref_logps["rejected"][idx[m]],
                length["chosen"][idx[m]].to(dtype), length["rejected"][idx[m]].to(dtype), tau,
            )).mean()
            for m in range(n_members)
        ])
        bad = ~torch.isfinite(member_loss.detach()).numpy() & ~failed
        for m in np.flatnonzero(bad):
            failed[m], reasons[m] = True, f"non-finite loss at step {step}"
        opt.zero_grad()
        alive = torch.as_tensor(~failed)
        torch.where(alive, member_loss, torch.zeros_like(member_loss)).sum().backward()
        _clip_and_freeze(policy, opt, cfg.max_grad_norm, failed, reasons, step)
        opt.step()
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            with torch.no_grad():
                margin = ((logps["chosen"] - ref_logps["chosen"][idx])
                          - (logps["rejected"] - ref_logps["rejected"][idx])).mean(1)
            log.steps.append(step)
            log.loss.append(member_loss.detach().numpy().copy())
            log.chosen_logps.append(logps["chosen"].detach().mean(1).numpy())
            log.rejected_logps.append(logps["rejected"].detach().mean(1).numpy())
            log.reward_margin.append(margin.numpy())
        if progress is not None:
            progress(1)
    return TrainResult(policy, failed, reasons, log)


def _clip_and_freeze(policy: PopulationPolicy, opt: torch.optim.Optimizer, max_norm: float,
                     failed: np.ndarray, reasons: list[str | None], step: int) -> None:
    """Per-member gradient-norm clipping; members with non-finite gradients are frozen.

    A frozen member's gradients and Adam moments are zeroed, so its parameters stop moving.
    """
    params = list(policy.parameters())
    sq = sum(p.grad.reshape(p.shape[0], -1).pow(2).sum(1) for p in params)  # (P,)
    norm = sq.sqrt()
    for m in np.flatnonzero(~torch.isfinite(norm).numpy() & ~failed):
        failed[m], reasons[m] = True, f"non-finite gradient at step {step}"
    scale = (max_norm / (norm + 1e-12)).clamp(max=1.0)
    dead = torch.as_tensor(failed)
    scale = torch.where(dead | ~torch.isfinite(scale), torch.zeros_like(scale), scale)
    for p in params:
        g = p.grad
        g.copy_(torch.nan_to_num(g) * scale.view(-1, *[1] * (g.dim() - 1)))
        state = opt.state.get(p)
        if state and dead.any():
            for key in ("exp_avg", "exp_avg_sq"):
                state[key][dead] = 0.0
