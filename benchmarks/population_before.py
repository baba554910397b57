"""Frozen copy of mirrorpo.training.population before commit 833d519 (issue 17 speed-ups).

Kept only as the side-by-side baseline of benchmarks/bench_step.py and the reference of
tests/test_population_speed.py (same TrainResult, bit for bit). Do not edit; do not import from
the package.

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from mirrorpo.config import ConfigError, check, setting
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

    def mean_action(self, obs: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """obs (P', N, O) → Gaussian means (P', N, A) of the members in ``members``.

        tanh layers run as sigmoids: tanh(z) = 2σ(2z) − 1, and the affine map 2s − 1 of each
        hidden output s = σ(2z) is folded into the next layer's (tiny) weights and bias:
        (2s − 1)W + b = s·2W + (b − 1ᵀW). Each hidden layer is then one ``baddbmm`` and one
        ``sigmoid`` (one-pass backward), where torch's CPU tanh costs ~6× a sigmoid and the
        elementwise passes, not the matmuls, bounded a training step.
        """
        x = ((obs - self.obs_mean[members, None]) / self.obs_std[members, None]).clamp(
            -self.clip_obs, self.clip_obs)
        last = len(self.weights) - 1
        tanh = self.activation == "tanh"
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            w, b = w[members], b[members]
            if tanh and i > 0:  # x holds s = σ(2z) of the previous layer
                b, w_scale = b - w.sum(-2), 2.0
            else:
                w_scale = 1.0
            if i == last:
                return torch.baddbmm(b[:, None, :], x, w, alpha=w_scale)
            if tanh:
                x = torch.sigmoid(torch.baddbmm(b[:, None, :], x, w, beta=2.0, alpha=2 * w_scale))
            else:
                x = torch.relu(torch.baddbmm(b[:, None, :], x, w))
        raise AssertionError("unreachable")

    def log_density(self, obs: torch.Tensor, actions: torch.Tensor,
                    members: slice = slice(None)) -> torch.Tensor:
        """log N(a; μ(s), diag σ²) summed over action dims: (P', N, O), (P', N, A) → (P', N)."""
        log_std = self.log_std[members]
        z = (actions - self.mean_action(obs, members)) * torch.exp(-log_std)[:, None]
        return (-0.5 * z * z - log_std[:, None] - 0.5 * LOG_2PI).sum(-1)

    def to_stack(self) -> PolicyStack:
        n = lambda p: p.detach().cpu().numpy().astype(np.float64, copy=True)  # noqa: E731
        return PolicyStack(
            weights=tuple(n(w) for w in self.weights),
            biases=tuple(n(b) for b in self.biases),
            log_std=n(self.log_std),
            obs_mean=n(self.obs_mean),
            obs_std=n(self.obs_std),
            activation=self.activation,
            clip_obs=self.clip_obs,
        )


@dataclass(frozen=True)
class SegmentTable:
    """All segments of a dataset, chosen (ids 0..N−1) then rejected (N..2N−1), as flat rows.

    Row ``i·H + t`` holds step t of segment i; the final row is an all-zero padding row.
    """

    obs: torch.Tensor
    """(2N·H + 1, O)"""
    actions: torch.Tensor
    """(2N·H + 1, A)"""
    lengths: torch.Tensor
    """(2N,) int64"""
    horizon: int

    @property
    def num_pairs(self) -> int:
        return len(self.lengths) // 2

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], dtype: torch.dtype) -> SegmentTable:
        def flat(key: str) -> torch.Tensor:
            both = np.concatenate([data[f"chosen_{key}"], data[f"rejected_{key}"]])
            rows = torch.as_tensor(both.reshape(-1, both.shape[-1]), dtype=dtype)
            return torch.cat([rows, rows.new_zeros(1, rows.shape[1])])

        lengths = np.concatenate([data["chosen_length"], data["rejected_length"]])
        return cls(flat("obs"), flat("actions"), torch.as_tensor(lengths).long(),
                   int(data["chosen_obs"].shape[1]))


def packed_rows(table: SegmentTable, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of the valid steps of each member's segments, packed and padded.

    segments (P, S) segment ids → rows (P, C) into the table and local (P, C) ∈ [0, S], the
    position of each row's segment in its member's list (S for padding), with C = S·H fixed.

    C is fixed, not the largest member's step count, so that a member's arithmetic does not
    depend on which members share its batch: the weight-gradient reductions run over C rows,
    and a C set by the other members changed the rounding (by ~1e-7 after 40 steps on Hopper
    `mixed`), which 1000 training steps amplify into different policies and scores. Packing
    the valid steps first keeps the padding at the end of each member's rows.
    """
    p, s = segments.shape
    lengths = table.lengths[segments].reshape(-1)  # (P·S,)
    seg = torch.repeat_interleave(torch.arange(p * s), lengths)  # owner of each valid step
    t = torch.arange(len(seg)) - (torch.cumsum(lengths, 0) - lengths)[seg]
    counts = lengths.reshape(p, s).sum(1)
    member = seg // s
    col = torch.arange(len(seg)) - (torch.cumsum(counts, 0) - counts)[member]
    width = s * table.horizon
    rows = torch.full((p, width), len(table.obs) - 1, dtype=torch.long)
    local = torch.full((p, width), s, dtype=torch.long)
    rows[member, col] = segments.reshape(-1)[seg] * table.horizon + t
    local[member, col] = seg % s
    return rows, local


def segment_logps(policy: PopulationPolicy, table: SegmentTable, segments: torch.Tensor,
                  log_resolution: float, members: slice = slice(None)) -> torch.Tensor:
    """Per-member segment log-likelihoods of action masses (module docstring).

    segments (P', S) ids into ``table`` for the members in ``members`` → (P', S):
    Σ_t min(log N(a_t; μ(s_t), σ²) + d·log δ, −1e-8).
    """
    rows, local = packed_rows(table, segments)
    step = policy.log_density(table.obs[rows], table.actions[rows], members)
    step = (step + table.actions.shape[1] * log_resolution).clamp(max=MAX_STEP_LOGP)
    out = step.new_zeros(segments.shape[0], segments.shape[1] + 1)
    return out.scatter_add(1, local, step)[:, :-1]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one population-batched PO run (each checked when built)."""

    steps: int = setting(1000, help="Optimiser steps per member.", ge=1)
    batch_pairs: int = setting(8, help="Pairs per minibatch per member.", ge=1)
    learning_rate: float = setting(1e-3, help="Adam learning rate.", gt=0)
    max_grad_norm: float = setting(1.0, help="Per-member gradient-norm clip.", gt=0)
    action_resolution: float = setting(
        0.01, help="δ: action resolution per dimension for log-masses (docs/mpo.md).", gt=0,
        le=1)
    log_every: int = setting(50, help="Steps between logged curve points.", ge=1, cli=False)
    chunk_rows: int = setting(
        32_768, ge=1, cli=False,
        help="Members are processed in chunks of about this many state-action rows per step, "
             "so activations stay cache-sized (and below glibc's mmap threshold: fresh "
             "page-faulted memory every step made large populations 2× slower per row).")
    snapshot_steps: tuple[int, ...] = setting(
        (), cli=False, help="Keep every member's weights after these many steps "
                            "(training-length curves).")

    def __post_init__(self):
        check(self)
        if any(not isinstance(t, int) or t < 1 for t in self.snapshot_steps):
            raise ConfigError(f"TrainConfig.snapshot_steps: positive step counts, got "
                              f"{self.snapshot_steps}")

    def to_json(self) -> dict:
        return {**asdict(self), "snapshot_steps": list(self.snapshot_steps)}

    @classmethod
    def from_json(cls, raw: dict) -> TrainConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


LOG_KEYS = ("loss", "chosen_logps", "rejected_logps", "chosen_logratios", "rejected_logratios",
            "reward_margin")


@dataclass
class TrainLog:
    """Per-member curves, each a list of (P,) arrays, one per logged step: the mean since the
    previous logged step of the loss, chosen/rejected log-likelihood ℓ, log-ratio ℓ − ℓ_ref
    and implicit-reward margin h (all averaged over each step's minibatch)."""

    steps: list[int] = field(default_factory=list)
    loss: list[np.ndarray] = field(default_factory=list)
    chosen_logps: list[np.ndarray] = field(default_factory=list)
    rejected_logps: list[np.ndarray] = field(default_factory=list)
    chosen_logratios: list[np.ndarray] = field(default_factory=list)
    rejected_logratios: list[np.ndarray] = field(default_factory=list)
    reward_margin: list[np.ndarray] = field(default_factory=list)


@dataclass
class TrainResult:
    policy: PopulationPolicy
    failed: np.ndarray
    """(P,) bool: member hit a non-finite loss or gradient."""
    fail_reason: list[str | None]
    log: TrainLog
    snapshots: dict[int, PolicyStack] = field(default_factory=dict)
    """Steps done → every member's weights then (see TrainConfig.snapshot_steps)."""


def reference_logps(reference: PolicyStack, table: SegmentTable, log_resolution: float,
                    dtype: torch.dtype, chunk: int = 2048) -> torch.Tensor:
    """ℓ_ref of every segment in the table, (2N,), computed once in chunks."""
    ref = PopulationPolicy(reference, dtype=dtype)
    ids = torch.arange(len(table.lengths))
    with torch.no_grad():
        return torch.cat([segment_logps(ref, table, part[None], log_resolution)[0]
                          for part in ids.split(chunk)])


def _member_groups(losses: list[BatchLoss]) -> list[tuple[BatchLoss, list[int]]]:
    """Members sharing one loss object are evaluated in one call on (members, B) tensors."""
    groups: dict[int, tuple[BatchLoss, list[int]]] = {}
    for m, fn in enumerate(losses):
        groups.setdefault(id(fn), (fn, []))[1].append(m)
    return list(groups.values())


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _group_losses(groups: list[tuple[BatchLoss, list[int]]], chunk: slice, logps: torch.Tensor,
                  ref: torch.Tensor, lengths: torch.Tensor, tau: torch.Tensor,
                  b: int) -> torch.Tensor:
    """Mean loss of each member in ``chunk`` (P',); columns [:b] chosen, [b:] rejected."""
    out = []
    for fn, members in groups:
        local = [m - chunk.start for m in members if chunk.start <= m < chunk.stop]
        if not local:
            continue
        i = torch.as_tensor(local)
        batch = PreferenceBatch(logps[i, :b], logps[i, b:], ref[i, :b], ref[i, b:],
                                lengths[i, :b], lengths[i, b:], tau)
        out.append((i, fn(batch).mean(-1)))
    order = torch.cat([i for i, _ in out])
    return torch.cat([v for _, v in out])[torch.argsort(order)]


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
    ``seeds[i]`` define member i. Members with the same seed draw the same minibatches.
    """
    if len(losses) != len(seeds):
        raise ValueError("one seed per member loss")
    n_members = len(losses)
    policy = PopulationPolicy(reference.repeat(n_members), dtype=dtype)
    table = SegmentTable.from_arrays(data, dtype)
    log_res = float(np.log(cfg.action_resolution))
    ref_logps = reference_logps(reference, table, log_res, dtype)
    n_pairs = table.num_pairs
    lengths = table.lengths.to(dtype)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    groups = _member_groups(losses)
    chunk_size = max(1, cfg.chunk_rows // (2 * cfg.batch_pairs * table.horizon))
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    failed = np.zeros(n_members, dtype=bool)
    reasons: list[str | None] = [None] * n_members
    log = TrainLog()
    window: list[torch.Tensor] = []
    snapshots: dict[int, PolicyStack] = {}
    for step in range(cfg.steps):
        idx = torch.stack([torch.randint(0, n_pairs, (cfg.batch_pairs,), generator=g)
                           for g in gens])  # (P, B)
        segs = torch.cat([idx, idx + n_pairs], 1)  # chosen then rejected
        ref_b, len_b = ref_logps[segs], lengths[segs]
        b = cfg.batch_pairs
        tau = torch.tensor(step / max(cfg.steps - 1, 1), dtype=dtype)
        opt.zero_grad()
        member_loss = torch.empty(n_members, dtype=dtype)
        logps = torch.empty(n_members, 2 * b, dtype=dtype)
        for chunk in _chunks(n_members, chunk_size):
            lp = segment_logps(policy, table, segs[chunk], log_res, chunk)
            loss = _group_losses(groups, chunk, lp, ref_b[chunk], len_b[chunk], tau, b)
            member_loss[chunk], logps[chunk] = loss.detach(), lp.detach()
            live = torch.as_tensor(~failed[chunk]) & torch.isfinite(loss.detach())
            torch.where(live, loss, torch.zeros_like(loss)).sum().backward()
        bad = ~torch.isfinite(member_loss.detach()).numpy() & ~failed
        for m in np.flatnonzero(bad):
            failed[m], reasons[m] = True, f"non-finite loss at step {step}"
        _clip_and_freeze(policy, opt, cfg.max_grad_norm, failed, reasons, step)
        opt.step()
        ratio = logps - ref_b
        window.append(torch.stack([member_loss, logps[:, :b].mean(1), logps[:, b:].mean(1),
                                   ratio[:, :b].mean(1), ratio[:, b:].mean(1),
                                   (ratio[:, :b] - ratio[:, b:]).mean(1)]))
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            means = torch.stack(window).mean(0).numpy()
            window.clear()
            log.steps.append(step)
            for key, row in zip(LOG_KEYS, means, strict=True):
                getattr(log, key).append(row.copy())
        if step + 1 in cfg.snapshot_steps:
            snapshots[step + 1] = policy.to_stack()
        if progress is not None:
            progress(1)
    return TrainResult(policy, failed, reasons, log, snapshots)


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
