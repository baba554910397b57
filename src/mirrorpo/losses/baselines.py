"""Preference losses every user expects, as pure per-pair functions of log-likelihoods.

Each takes a :class:`~mirrorpo.losses.registry.PreferenceBatch` and its hyper-parameters and
returns per-pair losses (B,) with no reduction. Hyper-parameter names follow TRL
(``trl.DPOConfig``, ``trl.CPOConfig``, ``trl.ORPOConfig``). Symbols: ℓ = log π_θ(y|x) summed
over the response, ℓ_ref under the reference, ℓ̄ = ℓ/|y|, h the DPO margin
(ℓ_w − ℓ_ref,w) − (ℓ_l − ℓ_ref,l), σ the logistic function. IPO, like TRL's ``ipo``, is given
the per-token (length-normalised) margin when the caller passes mean log-likelihoods; here it
uses the summed margin h (our control segments have fixed length H, so the two differ by H).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mirrorpo.config import Range
from mirrorpo.losses.registry import PreferenceBatch, register

POSITIVE = Range(gt=0)
SMOOTHING = Range(gt=0, lt=0.5)
"""ε of cDPO, rDPO and EXO: ε = 0 is DPO (a no-op) or divides by zero (EXO's log ε), ε = ½
makes the loss symmetric in the label (rDPO divides by 1 − 2ε = 0)."""

LOGODDS_MAX_INPUT = -1e-8


def log_odds(logps: torch.Tensor) -> torch.Tensor:
    """logodds(ℓ) = ℓ − log(1 − e^ℓ), computed stably as ℓ − log(−expm1(ℓ)).

    Defined for ℓ < 0 (log-probabilities); inputs above −1e-8, including positive
    log-densities, are clamped there (convert densities to masses before, docs/mpo.md).
    """
    logps = logps.clamp(max=LOGODDS_MAX_INPUT)
    return logps - torch.log(-torch.expm1(logps))


@register("sft", uses_reference=False)
def sft(batch: PreferenceBatch) -> torch.Tensor:
    """Supervised fine-tuning on the chosen response: −ℓ̄(y_w)."""
    return -batch.mean_chosen_logps


@register("dpo", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def dpo(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """DPO (Rafailov et al., 2023, eq. 7): −log σ(β h). β > 0. TRL ``loss_type="sigmoid"``."""
    return -F.logsigmoid(beta * batch.margin)


@register("cdpo", main_hparam="label_smoothing", sweep=(0.05, 0.1, 0.2), beta=0.1,
          label_smoothing=0.1, ranges={"beta": POSITIVE, "label_smoothing": SMOOTHING})
def cdpo(batch: PreferenceBatch, beta: float, label_smoothing: float) -> torch.Tensor:
    """Conservative DPO (Mitchell, 2023): −(1−ε) log σ(βh) − ε log σ(−βh). ε ∈ (0, 0.5).

    TRL ``loss_type="sigmoid"`` with ``label_smoothing=ε``.
    """
    z = beta * batch.margin
    return -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)


@register("rdpo", main_hparam="label_smoothing", sweep=(0.1, 0.2, 0.3), beta=0.1,
          label_smoothing=0.1, ranges={"beta": POSITIVE, "label_smoothing": SMOOTHING})
def rdpo(batch: PreferenceBatch, beta: float, label_smoothing: float) -> torch.Tensor:
    """Robust DPO (Chowdhury et al., 2024, eq. 9), ε the known flip rate ∈ (0, 0.5):
    [−(1−ε) log σ(βh) + ε log σ(−βh)] / (1 − 2ε). TRL ``loss_type="robust"``."""
    z = beta * batch.margin
    eps = label_smoothing
    return (-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)


@register("ipo", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def ipo(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """IPO (Azar et al., 2024, eq. 17): (h − 1/(2β))². β > 0 (TRL's ``beta`` is τ)."""
    return (batch.margin - 1 / (2 * beta)) ** 2


@register("hinge", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def hinge(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """SLiC-HF calibration loss (Zhao et al., 2023): max(0, 1 − βh). TRL ``loss_type="hinge"``."""
    return torch.relu(1 - beta * batch.margin)


@register("orpo", uses_reference=False, main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def orpo(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """ORPO (Hong et al., 2024, eq. 6–7): −ℓ̄_w − λ log σ(logodds(ℓ̄_w) − logodds(ℓ̄_l)).

    λ is TRL's ``beta`` in ``ORPOConfig``. Needs ℓ̄ < 0 (probabilities, not densities).
    """
    ratio = log_odds(batch.mean_chosen_logps) - log_odds(batch.mean_rejected_logps)
    return -batch.mean_chosen_logps - beta * F.logsigmoid(ratio)


@register("simpo", uses_reference=False, main_hparam="beta", sweep=(0.5, 2.0, 8.0), beta=2.0,
          gamma_beta_ratio=0.5, ranges={"beta": POSITIVE, "gamma_beta_ratio": Range(ge=0)})
def simpo(batch: PreferenceBatch, beta: float, gamma_beta_ratio: float) -> torch.Tensor:
    """SimPO (Meng et al., 2024, eq. 6): −log σ(β(ℓ̄_w − ℓ̄_l) − γ), γ = β·gamma_beta_ratio.

    TRL ``CPOConfig(loss_type="simpo")`` names: ``beta``, ``simpo_gamma`` = gamma_beta_ratio·β.
    """
    z = beta * (batch.mean_chosen_logps - batch.mean_rejected_logps - gamma_beta_ratio)
    return -F.logsigmoid(z)


@register("discopop", main_hparam="beta", sweep=(0.005, 0.05, 0.5), beta=0.05,
          discopop_tau=0.05, ranges={"beta": POSITIVE, "discopop_tau": POSITIVE})
def discopop(batch: PreferenceBatch, beta: float, discopop_tau: float) -> torch.Tensor:
    """DiscoPOP / log-ratio modulated loss (Chan Lu et al., 2024, eq. 5), z = βh:
    (1 − m)·(−log σ(z)) + m·e^(−z), m = σ(z / τ). TRL ``loss_type="discopop"``."""
    z = beta * batch.margin
    modulation = torch.sigmoid(z / discopop_tau)
    return (1 - modulation) * -F.logsigmoid(z) + modulation * torch.exp(-z)


@register("nca_pair", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def nca_pair(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """NCA, pairwise (Chen et al., 2024, eq. 11), r = β(ℓ − ℓ_ref):
    −log σ(r_w) − ½ log σ(−r_w) − ½ log σ(−r_l). TRL ``loss_type="nca_pair"``."""
    r_w = beta * batch.chosen_logratios
    r_l = beta * batch.rejected_logratios
    return -F.logsigmoid(r_w) - 0.5 * F.logsigmoid(-r_w) - 0.5 * F.logsigmoid(-r_l)


@register("sppo_hard", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def sppo_hard(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """SPPO with hard labels (Wu et al., 2024, eq. 4.8): (a − 1/(2β))² + (b + 1/(2β))²,
    a = ℓ_w − ℓ_ref,w, b = ℓ_l − ℓ_ref,l. TRL ``loss_type="sppo_hard"``."""
    a, b = batch.chosen_logratios, batch.rejected_logratios
    return (a - 0.5 / beta) ** 2 + (b + 0.5 / beta) ** 2


@register("apo_zero", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def apo_zero(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """APO-zero (D'Oosterlinck et al., 2024): (1 − σ(β a)) + σ(β b), a, b the chosen and
    rejected log-ratios: raise the winner's likelihood, lower the loser's. TRL ``apo_zero``."""
    return (1 - torch.sigmoid(beta * batch.chosen_logratios)) + torch.sigmoid(
        beta * batch.rejected_logratios
    )


@register("exo_pair", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          label_smoothing=1e-3, ranges={"beta": POSITIVE, "label_smoothing": SMOOTHING})
def exo_pair(batch: PreferenceBatch, beta: float, label_smoothing: float) -> torch.Tensor:
    """EXO, pairwise (Ji et al., 2024, eq. 15), z = βh, ε ∈ (0, 0.5):
    σ(z)(log σ(z) − log(1−ε)) + σ(−z)(log σ(−z) − log ε). TRL ``loss_type="exo_pair"``."""
    z = beta * batch.margin
    eps = label_smoothing
    return torch.sigmoid(z) * (F.logsigmoid(z) - math.log(1 - eps)) + torch.sigmoid(-z) * (
        F.logsigmoid(-z) - math.log(eps)
    )


@register("kto_pair", main_hparam="beta", sweep=(0.01, 0.1, 1.0), beta=0.1,
          ranges={"beta": POSITIVE})
def kto_pair(batch: PreferenceBatch, beta: float) -> torch.Tensor:
    """KTO, paired form (Ethayarajh et al., 2024; TRL ``loss_type="kto_pair"``), with batch
    KL estimates z_w = max(0, mean a), z_l = max(0, mean b) of the log-ratios a, b:
    ½[(1 − σ(β(a − z_l))) + (1 − σ(β(z_w − b)))] per pair (TRL averages the 2B terms)."""
    a, b = batch.chosen_logratios, batch.rejected_logratios
    z_w = a.mean(-1, keepdim=True).clamp(min=0)  # over the batch axis (last)
    z_l = b.mean(-1, keepdim=True).clamp(min=0)
    return 0.5 * ((1 - torch.sigmoid(beta * (a - z_l))) + (1 - torch.sigmoid(beta * (z_w - b))))
