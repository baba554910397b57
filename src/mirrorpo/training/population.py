"""Population-batched preference optimisation of Gaussian MLP policies.

P members (losses × seeds) start from the same reference policy and train in one vectorised
run: every weight is a stacked tensor with a leading member axis, one ``torch.baddbmm`` per
layer serves all members, and Adam — element-wise — keeps members independent. Each member
draws its own minibatches from its own seed, clips its own gradient norm, and is marked failed
(and frozen) if its loss or gradient goes non-finite while the others go on.

Continuous actions (docs/mpo.md): a Gaussian log-*density* can exceed 0, where log-odds is
undefined, so the log-likelihood of a segment is that of the action *mass* at resolution δ per
action dimension: ℓ = Σ_t min(log N(a_t; μ(s_t), σ²) + d·log δ, −1e-8). DPO-style losses are
unchanged by the shift (it cancels in the margin); ORPO/SimPO/MPO inputs become probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import torch

from mirrorpo.config import ConfigError, check, setting
from mirrorpo.losses.mpo import MPOLoss, mpo_loss_stacked, stack_coefficients
from mirrorpo.losses.registry import BatchLoss, PreferenceBatch
from mirrorpo.policies import LOG_2PI, PolicyStack

MAX_STEP_LOGP = -1e-8
ROW_BLOCK = 32
"""Rows of a member's packed minibatch are a multiple of this (valid_segment_logps)."""


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

    def normalize(self, obs: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """obs (P', N, O) → the clipped, normalised MLP inputs of the members in ``members``."""
        return ((obs - self.obs_mean[members, None]) / self.obs_std[members, None]).clamp(
            -self.clip_obs, self.clip_obs)

    def mean_action(self, obs: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """obs (P', N, O) → Gaussian means (P', N, A) of the members in ``members``."""
        return self.mlp(self.normalize(obs, members), members)

    def mlp(self, x: torch.Tensor, members: slice = slice(None),
            affine: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None
            = None) -> torch.Tensor:
        """Normalised inputs x (P', N, O) → Gaussian means (P', N, A).

        tanh layers run as sigmoids: tanh(z) = 2σ(2z) − 1, and the affine map 2s − 1 of each
        hidden output s = σ(2z) is folded into the next layer's (tiny) weights and bias:
        (2s − 1)W + b = s·2W + (b − 1ᵀW). Each hidden layer is then one ``baddbmm`` and one
        ``sigmoid`` (one-pass backward), where torch's CPU tanh costs ~6× a sigmoid and the
        elementwise passes, not the matmuls, bounded a training step.

        The power-of-two factors (2, 4) multiply the small weights and biases, not the
        (P', N, H) activations: ``baddbmm(b, x, w, beta=2, alpha=4)`` equals
        ``baddbmm(2b, x, 4w)`` bit for bit (scaling by 2ᵏ is exact, so both round the same
        exact sum once), and so do their gradients, but baddbmm's backward multiplies the full
        (P', N, H) gradient by alpha and by beta, two extra passes per layer that this saves.

        ``affine(x, w, b)`` computes each layer's x·w + b (default ``baddbmm``;
        ``valid_segment_logps`` passes a row-restricted one).
        """
        if affine is None:
            affine = _baddbmm
        last = len(self.weights) - 1
        tanh = self.activation == "tanh"
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            w, b = w[members], b[members]
            if tanh and i > 0:  # x holds s = σ(2z) of the previous layer
                b, w_scale = b - w.sum(-2), 2.0
            else:
                w_scale = 1.0
            if i == last:
                return affine(x, w if w_scale == 1.0 else w * w_scale, b)
            if tanh:
                x = torch.sigmoid(affine(x, w * (2 * w_scale), b * 2.0))
            else:
                x = torch.relu(affine(x, w, b))
        raise AssertionError("unreachable")

    def log_density(self, obs: torch.Tensor, actions: torch.Tensor,
                    members: slice = slice(None)) -> torch.Tensor:
        """log N(a; μ(s), diag σ²) summed over action dims: (P', N, O), (P', N, A) → (P', N)."""
        return self.log_density_normalized(self.normalize(obs, members), actions, members)

    def log_density_normalized(self, x: torch.Tensor, actions: torch.Tensor,
                               members: slice = slice(None)) -> torch.Tensor:
        """``log_density`` of already normalised inputs x = ``normalize(obs)``."""
        log_std = self.log_std[members]
        z = (actions - self.mlp(x, members)) * torch.exp(-log_std)[:, None]
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
    def from_arrays(cls, data: dict[str, np.ndarray], dtype: torch.dtype,
                    device: torch.device | str = "cpu") -> SegmentTable:
        def flat(key: str) -> torch.Tensor:
            both = np.concatenate([data[f"chosen_{key}"], data[f"rejected_{key}"]])
            rows = torch.as_tensor(both.reshape(-1, both.shape[-1]), dtype=dtype, device=device)
            return torch.cat([rows, rows.new_zeros(1, rows.shape[1])])

        lengths = np.concatenate([data["chosen_length"], data["rejected_length"]])
        return cls(flat("obs"), flat("actions"), torch.as_tensor(lengths, device=device).long(),
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
    dev = table.lengths.device
    lengths = table.lengths[segments].reshape(-1)  # (P·S,)
    seg = torch.repeat_interleave(torch.arange(p * s, device=dev), lengths)  # step → owner
    t = torch.arange(len(seg), device=dev) - (torch.cumsum(lengths, 0) - lengths)[seg]
    counts = lengths.reshape(p, s).sum(1)
    member = seg // s
    col = torch.arange(len(seg), device=dev) - (torch.cumsum(counts, 0) - counts)[member]
    width = s * table.horizon
    rows = torch.full((p, width), len(table.obs) - 1, dtype=torch.long, device=dev)
    local = torch.full((p, width), s, dtype=torch.long, device=dev)
    rows[member, col] = segments.reshape(-1)[seg] * table.horizon + t
    local[member, col] = seg % s
    return rows, local


def segment_logps(policy: PopulationPolicy, table: SegmentTable, segments: torch.Tensor,
                  log_resolution: float, members: slice = slice(None),
                  inputs: torch.Tensor | None = None) -> torch.Tensor:
    """Per-member segment log-likelihoods of action masses (module docstring).

    segments (P', S) ids into ``table`` for the members in ``members`` → (P', S):
    Σ_t min(log N(a_t; μ(s_t), σ²) + d·log δ, −1e-8). ``inputs``: optionally the whole
    table's observations already normalised by ``policy.normalize`` (equal for all members),
    so that each step gathers them instead of normalising its rows again.
    """
    rows, local = packed_rows(table, segments)
    if inputs is None:
        step = policy.log_density(table.obs[rows], table.actions[rows], members)
    else:
        step = policy.log_density_normalized(inputs[rows], table.actions[rows], members)
    return _sum_segments(step, table, local, segments.shape[1], log_resolution)


def valid_segment_logps(policy: PopulationPolicy, table: SegmentTable, segments: torch.Tensor,
                        log_resolution: float, members: slice,
                        inputs: torch.Tensor) -> torch.Tensor:
    """``segment_logps`` over each member's valid rows only (TrainConfig.skip_padding).

    The packed rows are cut at the largest member's step count W ≤ S·H (about 0.6·S·H on
    Hopper, where half the rows of a minibatch are padding). The forward is row-wise, so a
    row's value does not depend on W; the reductions over rows in the backward (weight,
    bias and log σ gradients) run through ``_RowLinear`` and ``_RowGaussian``, which sum
    each member's own valid rows only, so that a member's arithmetic still does not depend
    on which members share its batch. W is rounded up past the largest count to a multiple of
    ``ROW_BLOCK`` rows: torch's vectorised elementwise kernels (sigmoid) compute the last
    numel mod 32 elements of a tensor in a scalar tail that rounds differently, and a valid
    row must never land there. Its rounding differs from the padded pass (whose
    reductions ran over S·H rows), so results are equal to ~1e-6 after a few steps, not
    bit for bit (tests bound the difference).
    """
    rows, local = packed_rows(table, segments)
    counts = table.lengths[segments].sum(1).tolist()
    width = -(-(max(counts) + 1) // ROW_BLOCK) * ROW_BLOCK
    if width > rows.shape[1]:  # padding row / padding segment slot
        extra = width - rows.shape[1]
        rows = torch.cat([rows, rows.new_full((len(rows), extra), len(table.obs) - 1)], 1)
        local = torch.cat([local, local.new_full((len(local), extra), segments.shape[1])], 1)
    rows, local = rows[:, :width], local[:, :width]
    mean = policy.mlp(inputs[rows], members,
                      lambda x, w, b: _RowLinear.apply(x, w, b, counts))
    step = _RowGaussian.apply(mean, table.actions[rows], policy.log_std[members], counts)
    return _sum_segments(step, table, local, segments.shape[1], log_resolution)


def _baddbmm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x·w + b for stacked members: x (P, N, I), w (P, I, O), b (P, O) → (P, N, O)."""
    return torch.baddbmm(b[:, None, :], x, w)


class _RowLinear(torch.autograd.Function):
    """y = x·w + b for stacked members, x (P, W, I), w (P, I, O), b (P, O); the backward sums
    member m's weight and bias gradients over its first counts[m] rows only (its valid
    rows: the others carry zero gradient), a reduction independent of W and of the other
    members. Hand-written because autograd's reductions run over all W rows."""

    @staticmethod
    def forward(ctx, x, w, b, counts):
        ctx.save_for_backward(x, w)
        ctx.counts = counts
        return torch.baddbmm(b[:, None, :], x, w)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = torch.bmm(dy, w.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        with _threads(1):
            dw = torch.stack([x[m, :c].T @ dy[m, :c] for m, c in enumerate(ctx.counts)])
            db = torch.stack([dy[m, :c].sum(0) for m, c in enumerate(ctx.counts)])
        return dx, dw, db, None


class _RowGaussian(torch.autograd.Function):
    """log N(a; μ, diag σ²) summed over action dims, (P, W, A) → (P, W), with log σ (P, A);
    ∂/∂μ = z·e^(−log σ) and ∂/∂log σ = Σ_t (z_t² − 1), z = (a − μ)·e^(−log σ), the latter
    summed over each member's first counts[m] rows only (see _RowLinear)."""

    @staticmethod
    def forward(ctx, mean, actions, log_std, counts):
        inv = torch.exp(-log_std)[:, None]
        z = (actions - mean) * inv
        ctx.save_for_backward(z, inv)
        ctx.counts = counts
        return (-0.5 * z * z - log_std[:, None] - 0.5 * LOG_2PI).sum(-1)

    @staticmethod
    def backward(ctx, g):
        z, inv = ctx.saved_tensors
        gz = g[..., None] * z
        d_mean = gz * inv
        with _threads(1):
            d_log_std = torch.stack([(gz[m, :c] * z[m, :c] - g[m, :c, None]).sum(0)
                                     for m, c in enumerate(ctx.counts)])
        return d_mean, None, d_log_std, None


def _sum_segments(step: torch.Tensor, table: SegmentTable, local: torch.Tensor, s: int,
                  log_resolution: float) -> torch.Tensor:
    step = (step + table.actions.shape[1] * log_resolution).clamp(max=MAX_STEP_LOGP)
    out = step.new_zeros(step.shape[0], s + 1)
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
    skip_padding: bool = setting(
        True, cli=False,
        help="Run each minibatch's forward and backward over its valid steps only "
             "(valid_segment_logps); False runs the padded rows too, the arithmetic of runs "
             "made before this option (configs without it read as False).")
    stack_losses: bool = setting(
        True, cli=False,
        help="Evaluate the MPO/TA-MPO losses of a chunk's members in one stacked call "
             "(losses.mpo.mpo_loss_stacked), equal to per-loss calls up to rounding; False "
             "calls each loss on its own, the arithmetic of runs made before this option "
             "(configs without it read as False).")
    device: str = setting(
        "cpu", choices=("cpu", "cuda"),
        help="Where the population trains and its policies act when scored: cpu, or cuda "
             "(one GPU; the simulation stays on the CPU).")

    def __post_init__(self):
        check(self)
        if any(not isinstance(t, int) or t < 1 for t in self.snapshot_steps):
            raise ConfigError(f"TrainConfig.snapshot_steps: positive step counts, got "
                              f"{self.snapshot_steps}")

    def to_json(self) -> dict:
        """The config as JSON; ``device`` left out when "cpu", as configs saved before it."""
        raw = {**asdict(self), "snapshot_steps": list(self.snapshot_steps)}
        if self.device == "cpu":
            del raw["device"]
        return raw

    @classmethod
    def from_json(cls, raw: dict) -> TrainConfig:
        """A saved config; one saved before ``skip_padding`` existed ran the padded rows, one
        before ``stack_losses`` called each loss on its own, one without ``device`` ran on the
        CPU."""
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**{"skip_padding": False, "stack_losses": False, **values})


def require_device(device: str) -> torch.device:
    """``TrainConfig.device`` as a torch device, refused (ConfigError) where it is absent.

    Checked when work starts, not when a config is built, so that a config saved on a GPU
    machine still reads on a CPU one.
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("TrainConfig.device: cuda asked for, but torch sees no GPU "
                          f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                          "use cpu")
    return torch.device(device)


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
    steps_trained: np.ndarray | None = None
    """(P,) int: optimiser steps each member trained (``cfg.steps`` unless ``Pruning``
    dropped it at a rung, where ``policy`` holds its weights from then)."""


class Rung(NamedTuple):
    """What a ``Pruning.keep`` call sees: the members still training after ``steps`` steps."""

    steps: int
    members: np.ndarray
    """(P',) their indices in the run's member list, increasing."""
    stack: PolicyStack
    """(P',) their weights now."""
    failed: np.ndarray
    """(P',) bool: hit a non-finite loss or gradient."""


@dataclass(frozen=True)
class Pruning:
    """Drop members during training (successive halving, mirrorpo.discovery.fitness).

    After ``steps[i]`` steps the trainer calls ``keep(rung)`` and continues with only the
    members it returns (indices of the run's member list, a subset of ``rung.members``), so
    later steps cost less. A kept member's numbers do not depend on which members share its
    batch (module docstring), so it ends as it would without pruning; a dropped one keeps its
    weights of the rung.
    """

    steps: tuple[int, ...]
    keep: Callable[[Rung], Sequence[int]]


def reference_logps(reference: PolicyStack, table: SegmentTable, log_resolution: float,
                    dtype: torch.dtype, chunk: int = 2048) -> torch.Tensor:
    """ℓ_ref of every segment in the table, (2N,), computed once in chunks.

    Only the valid rows are run through the network (``packed_rows`` pads each chunk to
    chunk·H rows; about half of them on a dataset of terminated segments): each row's forward
    arithmetic does not depend on the other rows, and the per-segment sums add the same steps
    in the same order, so the result equals the padded pass bit for bit (tests).
    """
    ref = PopulationPolicy(reference, dtype=dtype).to(table.obs.device)
    ids = torch.arange(len(table.lengths), device=table.obs.device)
    out = []
    with torch.no_grad():
        for part in ids.split(chunk):
            rows, local = packed_rows(table, part[None])
            n = int(table.lengths[part].sum())
            rows, local = rows[:, :n], local[:, :n]
            step = ref.log_density(table.obs[rows], table.actions[rows])
            out.append(_sum_segments(step, table, local, len(part), log_resolution)[0])
    return torch.cat(out)


class _threads:
    """Run a block with ``n`` torch threads (restored after). The losses work on (P', B)
    tensors, where several ops (log_sigmoid among them) still open a parallel region per call;
    on two shared cores each such call could wait milliseconds for the other thread."""

    def __init__(self, n: int):
        self.n, self.before = n, torch.get_num_threads()

    def __enter__(self):
        if self.n < self.before:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.n < self.before:
            torch.set_num_threads(self.before)


def _member_groups(losses: list[BatchLoss]) -> list[tuple[BatchLoss, list[int]]]:
    """Members sharing one loss object are evaluated in one call on (members, B) tensors."""
    groups: dict[int, tuple[BatchLoss, list[int]]] = {}
    for m, fn in enumerate(losses):
        groups.setdefault(id(fn), (fn, []))[1].append(m)
    return list(groups.values())


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class _ChunkLosses(NamedTuple):
    """How a chunk's member losses are evaluated: one call per (loss, local member rows, the
    first ``count`` of which are members; the others pad a stack and are dropped)."""

    calls: list[tuple[BatchLoss, torch.Tensor, int]]
    order: torch.Tensor
    """Puts the calls' concatenated member rows back in member order."""


def _chunk_losses(losses: list[BatchLoss], chunk: slice, stack: bool, b: int,
                  dtype: torch.dtype, device: torch.device) -> _ChunkLosses:
    """Members sharing a loss object share a call, and with ``stack`` (TrainConfig.stack_losses)
    every MPO/TA-MPO member of the chunk is a row of one ``mpo_loss_stacked`` call, which costs
    a few dozen small tensor operations instead of that many per loss.

    The stack is padded (with copies of its first row, dropped after the call) to a multiple
    of 32 values per (rows, b) tensor: torch's vectorised kernels run 32 float32 values per
    iteration and the last numel mod 32 in a scalar loop that rounds transcendental functions
    differently, so without padding a member's bits would depend on its row's position, that
    is, on its batch-mates; padded, every row takes the same path wherever it sits."""
    groups = [(fn, [m - chunk.start for m in members if chunk.start <= m < chunk.stop])
              for fn, members in _member_groups(losses)]
    groups = [(fn, local, len(local)) for fn, local in groups if local]
    mpo = [(fn, local) for fn, local, _ in groups if isinstance(fn, MPOLoss)]
    if stack and mpo:
        rows = [m for _, local in mpo for m in local]
        params = [fn.params for fn, local in mpo for _ in local]
        pad = -len(rows) % (ROW_BLOCK // math.gcd(b, ROW_BLOCK))
        coeffs = stack_coefficients(params + params[:1] * pad, dtype, device)
        groups = [g for g in groups if not isinstance(g[0], MPOLoss)] + [
            (partial(mpo_loss_stacked, stack=coeffs), rows + rows[:1] * pad, len(rows))]
    calls = [(fn, torch.as_tensor(local, device=device), n) for fn, local, n in groups]
    return _ChunkLosses(calls, torch.argsort(torch.cat([i[:n] for _, i, n in calls])))


def _group_losses(plan: _ChunkLosses, logps: torch.Tensor, ref: torch.Tensor,
                  lengths: torch.Tensor, tau: torch.Tensor, b: int) -> torch.Tensor:
    """Mean loss of each member of a chunk (P',); columns [:b] chosen, [b:] rejected."""
    out = []
    for fn, i, n in plan.calls:
        batch = PreferenceBatch(logps[i, :b], logps[i, b:], ref[i, :b], ref[i, b:],
                                lengths[i, :b], lengths[i, b:], tau)
        out.append(fn(batch).mean(-1)[:n])
    return torch.cat(out)[plan.order]


def train_population(
    reference: PolicyStack,
    data: dict[str, np.ndarray],
    losses: list[BatchLoss],
    seeds: list[int],
    cfg: TrainConfig,
    *,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int], None] | None = None,
    pruning: Pruning | None = None,
) -> TrainResult:
    """Train one member per (loss, seed) pair from the reference on a preference dataset.

    ``data`` holds the dataset arrays (see mirrorpo.data.dataset.SCHEMA); ``losses[i]`` and
    ``seeds[i]`` define member i. Members with the same seed draw the same minibatches (on
    the CPU, whatever ``cfg.device``). The result's policy lives on ``cfg.device``; its
    ``to_stack()`` is on the CPU. ``pruning``: drop members at rungs (``Pruning``); their
    logged curves read NaN from the first logged point whose window reaches past their last
    step.
    """
    device = require_device(cfg.device)
    if len(losses) != len(seeds):
        raise ValueError("one seed per member loss")
    if pruning is not None and (cfg.snapshot_steps or any(
            not 0 < r < cfg.steps for r in pruning.steps)):
        raise ValueError("pruning: rungs in (0, steps), and no snapshot_steps")
    n_members = n_total = len(losses)
    active = np.arange(n_total)  # run indices of the members still training
    steps_trained = np.full(n_total, cfg.steps)
    stopped: _Stopped | None = None
    policy = PopulationPolicy(reference.repeat(n_members), dtype=dtype).to(device)
    table = SegmentTable.from_arrays(data, dtype, device)
    log_res = float(np.log(cfg.action_resolution))
    ref_logps = reference_logps(reference, table, log_res, dtype)
    with torch.no_grad():
        inputs = policy.normalize(table.obs[None], slice(0, 1))[0]
    n_pairs = table.num_pairs
    lengths = table.lengths.to(dtype)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    chunk_size = max(1, cfg.chunk_rows // (2 * cfg.batch_pairs * table.horizon))

    def loss_plans() -> list[tuple[slice, _ChunkLosses]]:
        return [(chunk, _chunk_losses(losses, chunk, cfg.stack_losses, cfg.batch_pairs, dtype,
                                      device)) for chunk in _chunks(n_members, chunk_size)]

    plans = loss_plans()
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    failed = np.zeros(n_members, dtype=bool)
    reasons: list[str | None] = [None] * n_members
    log = TrainLog()
    window: list[torch.Tensor] = []
    snapshots: dict[int, PolicyStack] = {}
    for step in range(cfg.steps):
        idx = torch.stack([torch.randint(0, n_pairs, (cfg.batch_pairs,), generator=g)
                           for g in gens])  # (P, B)
        segs = torch.cat([idx, idx + n_pairs], 1).to(device)  # chosen then rejected
        ref_b, len_b = ref_logps[segs], lengths[segs]
        b = cfg.batch_pairs
        tau = torch.tensor(step / max(cfg.steps - 1, 1), dtype=dtype, device=device)
        opt.zero_grad()
        member_loss = torch.empty(n_members, dtype=dtype, device=device)
        logps = torch.empty(n_members, 2 * b, dtype=dtype, device=device)
        for chunk, plan in plans:
            if cfg.skip_padding:
                lp = valid_segment_logps(policy, table, segs[chunk], log_res, chunk, inputs)
            else:
                lp = segment_logps(policy, table, segs[chunk], log_res, chunk, inputs)
            # the (P', 2B) losses and their gradient w.r.t. lp on one thread, then the
            # network's backward from that gradient: the same arithmetic as one backward()
            leaf = lp.detach().requires_grad_()
            with _threads(1):
                loss = _group_losses(plan, leaf, ref_b[chunk], len_b[chunk], tau, b)
                member_loss[chunk], logps[chunk] = loss.detach(), leaf.detach()
                live = torch.as_tensor(~failed[chunk], device=device) & torch.isfinite(
                    loss.detach())
                total = torch.where(live, loss, torch.zeros_like(loss)).sum()
                (grad,) = torch.autograd.grad(total, leaf)
            lp.backward(grad)
        bad = ~torch.isfinite(member_loss.detach()).cpu().numpy() & ~failed
        for m in np.flatnonzero(bad):
            failed[m], reasons[m] = True, f"non-finite loss at step {step}"
        _clip_and_freeze(policy, opt, cfg.max_grad_norm, failed, reasons, step)
        opt.step()
        ratio = logps - ref_b
        window.append(_widen(torch.stack([
            member_loss, logps[:, :b].mean(1), logps[:, b:].mean(1), ratio[:, :b].mean(1),
            ratio[:, b:].mean(1), (ratio[:, :b] - ratio[:, b:]).mean(1)]), active, n_total))
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            means = torch.stack(window).mean(0).cpu().numpy()
            window.clear()
            log.steps.append(step)
            for key, row in zip(LOG_KEYS, means, strict=True):
                getattr(log, key).append(row.copy())
        if step + 1 in cfg.snapshot_steps:
            snapshots[step + 1] = policy.to_stack()
        if pruning is not None and step + 1 in pruning.steps:
            kept = np.asarray(sorted(set(int(m) for m in pruning.keep(
                Rung(step + 1, active.copy(), policy.to_stack(), failed.copy())))), dtype=int)
            if not len(kept) or not np.isin(kept, active).all():
                raise ValueError(f"pruning: keep must return some of the members {active}, "
                                 f"got {kept}")
            pos = np.searchsorted(active, kept)  # their positions in the running population
            stopped = stopped or _Stopped.of(policy, n_total)
            stopped.record(policy, active, failed, reasons)
            steps_trained[np.setdiff1d(active, kept)] = step + 1
            opt = _select_members(policy, opt, pos)
            active, failed = kept, failed[pos]
            gens, losses = [gens[i] for i in pos], [losses[i] for i in pos]
            reasons, n_members = [reasons[i] for i in pos], len(pos)
            plans = loss_plans()
        if progress is not None:
            progress(1)
    if stopped is not None:
        failed, reasons = stopped.restore(policy, active, failed, reasons)
    return TrainResult(policy, failed, reasons, log, snapshots, steps_trained)


def _widen(x: torch.Tensor, active: np.ndarray, n: int) -> torch.Tensor:
    """(K, P') values of the running members → (K, n), NaN for the dropped ones (x itself
    while none is dropped)."""
    if len(active) == n:
        return x
    out = x.new_full((x.shape[0], n), float("nan"))
    out[:, torch.as_tensor(active, device=x.device)] = x
    return out


def _select_members(policy: PopulationPolicy, opt: torch.optim.Adam,
                    pos: np.ndarray) -> torch.optim.Adam:
    """Keep only the members at positions ``pos``: their parameters, normalisers and Adam
    moments, as new parameters → their optimiser (Adam's step count is shared by the
    members, and kept)."""
    idx = torch.as_tensor(pos, device=policy.log_std.device)
    old = list(policy.parameters())
    _set_parameters(policy, [p.detach()[idx] for p in old])
    new_opt = torch.optim.Adam(policy.parameters(), **opt.defaults)
    for p, q in zip(old, policy.parameters(), strict=True):
        if p in opt.state:
            new_opt.state[q] = {k: v[idx] if v.dim() else v for k, v in opt.state[p].items()}
    policy.obs_mean, policy.obs_std = policy.obs_mean[idx], policy.obs_std[idx]
    return new_opt


def _set_parameters(policy: PopulationPolicy, values: list[torch.Tensor]) -> None:
    """Replace the parameters, in ``parameters()`` order (log σ, weights, biases)."""
    n = len(policy.weights)
    policy.log_std = torch.nn.Parameter(values[0])
    for i in range(n):
        policy.weights[i] = torch.nn.Parameter(values[1 + i])
        policy.biases[i] = torch.nn.Parameter(values[1 + n + i])


@dataclass
class _Stopped:
    """Parameters, normalisers, failure flags and reasons of all n members; a dropped member's
    stay as they were at its rung."""

    params: list[torch.Tensor]
    buffers: tuple[torch.Tensor, torch.Tensor]
    failed: np.ndarray
    reasons: list[str | None]

    @classmethod
    def of(cls, policy: PopulationPolicy, n: int) -> _Stopped:
        return cls([p.detach().clone() for p in policy.parameters()],
                   (policy.obs_mean, policy.obs_std), np.zeros(n, dtype=bool), [None] * n)

    def record(self, policy: PopulationPolicy, active: np.ndarray, failed: np.ndarray,
               reasons: list[str | None]) -> None:
        """Store the running members (run indices ``active``) as they are now."""
        idx = torch.as_tensor(active, device=policy.log_std.device)
        for full, p in zip(self.params, policy.parameters(), strict=True):
            full[idx] = p.detach()
        self.failed[active] = failed
        for m, r in zip(active, reasons, strict=True):
            self.reasons[m] = r

    def restore(self, policy: PopulationPolicy, active: np.ndarray, failed: np.ndarray,
                reasons: list[str | None]) -> tuple[np.ndarray, list[str | None]]:
        """Put every member back into ``policy``, the survivors (``active``) as they are
        now; → the failure flags and reasons of all members."""
        self.record(policy, active, failed, reasons)
        _set_parameters(policy, self.params)
        policy.obs_mean, policy.obs_std = self.buffers
        return self.failed, self.reasons


def _clip_and_freeze(policy: PopulationPolicy, opt: torch.optim.Optimizer, max_norm: float,
                     failed: np.ndarray, reasons: list[str | None], step: int) -> None:
    """Per-member gradient-norm clipping; members with non-finite gradients are frozen.

    A frozen member's gradients and Adam moments are zeroed, so its parameters stop moving.
    """
    params = list(policy.parameters())
    sq = sum(p.grad.reshape(p.shape[0], -1).pow(2).sum(1) for p in params)  # (P,)
    norm = sq.sqrt()
    for m in np.flatnonzero(~torch.isfinite(norm).cpu().numpy() & ~failed):
        failed[m], reasons[m] = True, f"non-finite gradient at step {step}"
    scale = (max_norm / (norm + 1e-12)).clamp(max=1.0)
    dead = torch.as_tensor(failed, device=norm.device)
    scale = torch.where(dead | ~torch.isfinite(scale), torch.zeros_like(scale), scale)
    for p in params:
        g = p.grad
        g.copy_(torch.nan_to_num(g) * scale.view(-1, *[1] * (g.dim() - 1)))
        state = opt.state.get(p)
        if state and dead.any():
            for key in ("exp_avg", "exp_avg_sq"):
                state[key][dead] = 0.0
