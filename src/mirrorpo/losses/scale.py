"""How a preference loss meets a domain's log-likelihood scale, and a calibration for it.

A summed log-likelihood ℓ(y) = Σ_t log π(y_t | x, y_<t) grows with the response: a 300-step
Hopper segment has |ℓ| in the hundreds, a 40-token reply in the tens, and two replies to one
prompt differ by tens of nats. A loss whose curvature sits at a fixed ℓ (an exponential link,
a mirror map with knees at u = −1) behaves differently in each domain, and one that leaves a
part of the reference in the margin (r < 1) starts away from z = 0 by β(1 − r)(ℓ_w − ℓ_l).
This module measures that at the start of training (policy = reference) and offers the
calibration that maps a target domain's log-likelihoods onto the scale of the domain a loss
was fitted on: ℓ ↦ c·ℓ with c = scale(source) / scale(target), the identity at home.

Pure tensor code: callers bring the reference log-likelihoods and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mirrorpo.losses.registry import PreferenceBatch


def margin_scale(ref_chosen: np.ndarray, ref_rejected: np.ndarray) -> float:
    """The domain's log-likelihood scale: median |ℓ_ref(y_w) − ℓ_ref(y_l)| over the pairs, the
    size of the margins a loss sees (robust to a few extreme pairs). ValueError if it is 0
    or there is no finite pair."""
    gap = np.abs(np.asarray(ref_chosen, np.float64) - np.asarray(ref_rejected, np.float64))
    gap = gap[np.isfinite(gap)]
    if not len(gap) or float(np.median(gap)) <= 0:
        raise ValueError("the pairs' reference margins have no positive median")
    return float(np.median(gap))


@dataclass(frozen=True)
class CalibratedLoss:
    """``loss`` applied to c·ℓ: every log-likelihood of the batch (policy and reference)
    multiplied by ``factor`` = scale(source) / scale(target) (``margin_scale``), so a loss
    fitted where margins are ``source`` nats wide meets margins of that width elsewhere.
    Lengths and τ are unchanged; factor = 1 is the loss itself."""

    loss: object
    factor: float

    def __post_init__(self):
        if not (np.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"calibration factor must be positive and finite, got {self.factor}")

    def __call__(self, batch: PreferenceBatch) -> torch.Tensor:
        c = self.factor
        return self.loss(batch._replace(
            policy_chosen_logps=c * batch.policy_chosen_logps,
            policy_rejected_logps=c * batch.policy_rejected_logps,
            reference_chosen_logps=c * batch.reference_chosen_logps,
            reference_rejected_logps=c * batch.reference_rejected_logps))


def at_reference(ref_chosen, ref_rejected, chosen_lengths, rejected_lengths,
                 progress: float = 0.0) -> PreferenceBatch:
    """The batch at the start of training: policy log-likelihoods equal to the reference's,
    as float64 leaves that require grad (so ∂L/∂ℓ can be read), shape (B,) each."""
    def leaf(x):
        return torch.as_tensor(np.asarray(x, np.float64)).clone().requires_grad_(True)

    def const(x):
        return torch.as_tensor(np.asarray(x, np.float64))

    return PreferenceBatch(leaf(ref_chosen), leaf(ref_rejected), const(ref_chosen),
                           const(ref_rejected), const(chosen_lengths), const(rejected_lengths),
                           torch.tensor(float(progress), dtype=torch.float64))


def gradient_profile(loss, batch: PreferenceBatch) -> dict[str, float]:
    """What one batch asks of the policy: the per-pair loss L_i and its pull
    w_i = |∂L_i/∂ℓ(y_w)| + |∂L_i/∂ℓ(y_l)| (``batch`` from ``at_reference``), summarised as

        loss_mean, loss_max; pull_median, pull_max;
        ess = (Σ w_i)² / (B Σ w_i²) ∈ (0, 1]: the share of the batch that carries the
        gradient (1: every pair pulls equally, as DPO at the reference; 1/B: one pair).

    An optimiser that normalises the step (Adam, clipping) undoes the pull's overall size but
    not its spread across pairs, so ``ess`` is the figure that survives into training."""
    per_pair = loss(batch)
    leaves = (batch.policy_chosen_logps, batch.policy_rejected_logps)
    grads = torch.autograd.grad(per_pair.sum(), leaves, allow_unused=True)
    pull = sum(torch.zeros_like(x) if g is None else g.abs()
               for x, g in zip(leaves, grads, strict=True))
    pull = pull.detach().numpy()
    values = per_pair.detach().numpy()
    total = float(pull.sum())
    ess = total**2 / (len(pull) * float((pull**2).sum())) if total > 0 else float("nan")
    return {"loss_mean": float(values.mean()), "loss_max": float(values.max()),
            "pull_median": float(np.median(pull)), "pull_max": float(pull.max()), "ess": ess}
