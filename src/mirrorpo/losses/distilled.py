"""The distilled loss (issue 18): what the knock-out ablations of the round's discovered
losses say carries their gain, written as one closed-form loss.

It was not written by hand: the rule of ``mirrorpo.distill`` (registered before any ablation
ran, docs/protocols/distilled-suite.md) read the knock-outs of the three ablated MPO losses
(Walker2d ``mixed``, Hopper ``noisy-30``, HalfCheetah ``mixed``) and kept

* the **partial reference weight** r (term ``ref_switch``): the one term whose removal cost
  every loss that used it, by 12.4 [6.9, 17.9] on Walker2d and 13.3 [7.5, 19.0] on Hopper
  ``noisy-30`` (mean evidence +8.55, Holm-supported); r is the median of the used values
  (0.895 and 0.591);
* a **hinge link** in place of log σ: the evidence of the hinge (the larger of the ``lam_hinge``
  and ``lam_exp`` knock-outs, +1.36) beats log σ's (−0.59). The exponential link the searches
  found pulls wrong-way pairs with a growing slope; the hinge pulls them with the bounded slope
  β, so the loss does not blow up on another domain's log-likelihood scale (docs/results.md,
  "A discovered loss on another domain's log-likelihood scale").

No other axis (length normalisation, a margin, an imitation weight, an anchor) was supported.
β is not distilled: it is tuned per task like DPO's.
"""

from __future__ import annotations

import torch

from mirrorpo.config import Range
from mirrorpo.losses.registry import PreferenceBatch, register

RULE_REF_WEIGHT = 0.7427899220184708
"""r as the rule wrote it (runs/p16/distilled/distilled.json, docs/results/p16/distilled/):
the median of the ablated losses' used reference weights."""


@register("distilled", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ref_weight=RULE_REF_WEIGHT,
          ranges={"beta": Range(gt=0), "ref_weight": Range(ge=0, le=1)})
def distilled(batch: PreferenceBatch, beta: float, ref_weight: float) -> torch.Tensor:
    """Distilled from the suite's ablations (issue 18; docs/losses.md): hinge on a partially
    referenced margin, max(0, 1 − β[(ℓ_w − ℓ_l) − r(ℓ_ref,w − ℓ_ref,l)]); r = 1 is ``hinge``.
    Its gradient never exceeds β, whatever the log-likelihood scale. MPO point: β,
    ref_switch = r, w_id = 1, lam_hinge = 1 (``mirrorpo.losses.mpo.distilled_point``).
    """
    policy = batch.policy_chosen_logps - batch.policy_rejected_logps
    reference = batch.reference_chosen_logps - batch.reference_rejected_logps
    return torch.relu(1 - beta * (policy - ref_weight * reference))
