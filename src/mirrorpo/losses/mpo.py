"""Mirror Preference Optimization (MPO) and its temporally aware variant (TA-MPO).

Alfano et al., "Meta-Learning Objectives for Preference Optimization" (arXiv 2411.06568), §3;
the math is in docs/mpo.md. With u(y) = ℓ(y) / |y|^s (s ∈ [0, 1]: summed → per-token input),

    L = ρ(τ) · [−g(β (Δ_w − Δ_l)) + A(βΔ_w) + A(−βΔ_l)] + α(τ) · (−u_w),
    Δ(y) = f(u(y)) − r f(u_ref(y))   (the implicit reward / β, see docs/mpo.md)

* mirror map, increasing for every parameter value (δ = 1e-9 keeps it strictly so):
  f(u) = δu + w_id·u + w_lo·logodds(u) + w_exp·e^(q u) + Σ_j w_j·softplus(a_j (u − c_j))
  with all w ≥ 0, q, a_j > 0;
* preference link: g(z) = λ_ls·log σ(z − m) − λ_exp·E(z − m) − λ_h·max(0, 1 − (z − m))
  + λ_σ·σ(z − m), with E(x) = e^(−x) continued linearly below x = −EXP_LINK_KNEE (value and
  slope match there), so the exponential link stays finite and increasing when summed
  log-likelihoods of long segments make |z| large (e^(−z) overflowed float32 for z < −88).
  The bounded σ link is symmetric (σ(z) + σ(−z) = 1), the property that makes a loss tolerant
  of uniform label noise (Ghosh et al., AAAI 2017);
* anchors (family version 2): each response's own implicit reward, chosen pushed up and
  rejected down, A(x) = −κ_ls·log σ(x) + κ_σ·(1 − σ(x)) + κ_sq·(x − ½)²/β². The margin link
  cannot express these; at κ_σ = 1 (λ's 0) the loss is APO-zero (D'Oosterlinck et al., 2024)
  and at κ_sq = 1 SPPO-hard (Wu et al., 2024), exactly;
* imitation ψ = −u_w with weight α ≥ 0; reference switch r ∈ [0, 1];
* MPO: ρ ≡ 1 and α constant. TA-MPO: α(τ) and ρ(τ) piecewise linear through knots at
  τ = 0, ½, 1 (non-negative), so training can move from imitation to preference optimisation.

A flat real vector maps onto the structure with positivity by ``max(·, 0)`` (weights),
``exp`` (rates q, a_j) and clipping (s, r), so the known losses sit at exact points:
DPO (s = 0, r = 1, f = u, g = log σ, α = 0, no anchors) and ORPO (s = 1, r = 0, f = logodds,
β = 1, g = λ log σ, α = 1, no anchors).

Versions: 1 had no σ link and no anchors; a version-1 file loads into version 2 with those
weights at 0, which is the same loss.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from mirrorpo.fileio import read_json, write_text_atomic
from mirrorpo.losses.baselines import log_odds
from mirrorpo.losses.registry import PreferenceBatch

MIRROR_SLOPE_FLOOR = 1e-9
EXP_LINK_KNEE = 20.0
KNOTS = (0.0, 0.5, 1.0)
FAMILIES = {"mpo": 2, "ta-mpo": 2}  # family -> current version


@dataclass(frozen=True)
class MPOParams:
    """Structured MPO/TA-MPO parameters (raw search coordinates; see ``constrained``)."""

    beta: float = 0.1
    length_power: float = 0.0
    ref_switch: float = 1.0
    w_id: float = 1.0 - MIRROR_SLOPE_FLOOR
    w_logodds: float = 0.0
    w_exp: float = 0.0
    log_q: float = 0.0
    w_sp1: float = 0.0
    log_a1: float = 0.0
    c1: float = 0.0
    w_sp2: float = 0.0
    log_a2: float = 0.0
    c2: float = -1.0
    lam_logsigmoid: float = 1.0
    lam_exp: float = 0.0
    lam_hinge: float = 0.0
    margin: float = 0.0
    lam_sigmoid: float = 0.0
    anchor_logsigmoid: float = 0.0
    anchor_sigmoid: float = 0.0
    anchor_square: float = 0.0
    alpha0: float = 0.0
    alpha_half: float = 0.0
    alpha1: float = 0.0
    rho0: float = 1.0
    rho_half: float = 1.0
    rho1: float = 1.0


MPO_NAMES = tuple(f.name for f in fields(MPOParams) if not f.name.startswith(("alpha", "rho")))
MPO_NAMES = (*MPO_NAMES, "alpha0")  # MPO: one constant α, ρ ≡ 1
TA_MPO_NAMES = tuple(f.name for f in fields(MPOParams))
V2_NAMES = ("lam_sigmoid", "anchor_logsigmoid", "anchor_sigmoid", "anchor_square")
"""Coordinates new in version 2; a version-1 vector is the version-2 one without them."""


@dataclass(frozen=True)
class Term:
    """One term of the loss that a knock-out ablation (``mirrorpo.ablation``) can drop: the
    coordinates that switch it on and the neutral value that switches it off, the rest of the
    loss unchanged. ``neutral`` is a number, or ``"mean"`` for a TA-MPO schedule, made constant
    at its mean over training, ∫₀¹ v(τ) dτ = (v(0) + 2v(½) + v(1)) / 4 of its non-negative
    knot values (the term keeps its total weight and loses only its timing)."""

    name: str
    part: str
    """Where it acts, for people (docs/mpo.md, "Knock-out terms")."""
    coords: tuple[str, ...]
    neutral: float | str
    families: tuple[str, ...] = ("mpo", "ta-mpo")


TERMS = (
    Term("length_power", "input u = ℓ/|y|^s (s = 0: summed ℓ)", ("length_power",), 0.0),
    Term("ref_switch", "Δ = f(u) − r·f(u_ref) (r = 1: full reference)", ("ref_switch",), 1.0),
    Term("w_id", "mirror map f: identity", ("w_id",), 0.0),
    Term("w_logodds", "mirror map f: logodds", ("w_logodds",), 0.0),
    Term("w_exp", "mirror map f: e^(qu)", ("w_exp",), 0.0),
    Term("w_sp1", "mirror map f: softplus 1", ("w_sp1",), 0.0),
    Term("w_sp2", "mirror map f: softplus 2", ("w_sp2",), 0.0),
    Term("lam_logsigmoid", "link g: log σ", ("lam_logsigmoid",), 0.0),
    Term("lam_exp", "link g: −e^(−z)", ("lam_exp",), 0.0),
    Term("lam_hinge", "link g: −hinge", ("lam_hinge",), 0.0),
    Term("lam_sigmoid", "link g: σ", ("lam_sigmoid",), 0.0),
    Term("margin", "link g: margin m (asymmetry about z = 0)", ("margin",), 0.0),
    Term("anchor_logsigmoid", "anchor A: −log σ", ("anchor_logsigmoid",), 0.0),
    Term("anchor_sigmoid", "anchor A: 1 − σ", ("anchor_sigmoid",), 0.0),
    Term("anchor_square", "anchor A: (x − ½)²/β²", ("anchor_square",), 0.0),
    Term("alpha", "imitation α(τ)·(−u_w)", ("alpha0", "alpha_half", "alpha1"), 0.0),
    Term("alpha_schedule", "timing of α(τ)", ("alpha0", "alpha_half", "alpha1"), "mean",
         ("ta-mpo",)),
    Term("rho_schedule", "timing of ρ(τ)", ("rho0", "rho_half", "rho1"), "mean", ("ta-mpo",)),
)
"""The terms of the MPO/TA-MPO loss, each with its neutral value; the knock-out ablation's
variants are these, one at a time. Every coordinate is in a term or in ``KEPT``."""
KEPT = ("beta", "log_q", "log_a1", "c1", "log_a2", "c2")
"""Coordinates no knock-out changes: the scale β and the shapes (rates, locations) of terms."""


def param_names(family: str) -> tuple[str, ...]:
    """Names of the flat-vector coordinates of ``family``, in order."""
    if family == "mpo":
        return MPO_NAMES
    if family == "ta-mpo":
        return TA_MPO_NAMES
    raise ValueError(f"unknown loss family '{family}'; choose one of {', '.join(FAMILIES)}")


def param_names_v1(family: str) -> tuple[str, ...]:
    """Names of the version-1 coordinates of ``family``, in order."""
    return tuple(n for n in param_names(family) if n not in V2_NAMES)


def to_vector(params: MPOParams, family: str) -> np.ndarray:
    return np.array([getattr(params, n) for n in param_names(family)], dtype=np.float64)


def from_vector(vector: np.ndarray | list[float], family: str) -> MPOParams:
    """Structured parameters from a flat vector; MPO ties α(τ) to α0 and ρ to 1."""
    names = param_names(family)
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (len(names),):
        raise ValueError(f"{family} expects {len(names)} parameters, got shape {vector.shape}")
    values = dict(zip(names, map(float, vector), strict=True))
    if family == "mpo":
        values |= {"alpha_half": values["alpha0"], "alpha1": values["alpha0"]}
    return MPOParams(**values)


def dpo_point(beta: float = 0.1) -> MPOParams:
    """MPO parameters at which the loss equals DPO with this β."""
    return MPOParams(beta=beta)


def orpo_point(lam: float = 0.1) -> MPOParams:
    """MPO parameters at which the loss equals ORPO with weight λ (TRL's ``beta``)."""
    return MPOParams(beta=1.0, length_power=1.0, ref_switch=0.0, w_id=0.0, w_logodds=1.0,
                     lam_logsigmoid=lam, alpha0=1.0, alpha_half=1.0, alpha1=1.0)


def apo_zero_point(beta: float = 0.1) -> MPOParams:
    """MPO parameters at which the loss equals APO-zero with this β (D'Oosterlinck et al.,
    2024): no margin term, anchors κ_σ = 1, so L = (1 − σ(βΔ_w)) + σ(βΔ_l)."""
    return MPOParams(beta=beta, lam_logsigmoid=0.0, anchor_sigmoid=1.0)


def sppo_hard_point(beta: float = 0.1) -> MPOParams:
    """MPO parameters at which the loss equals SPPO-hard with this β (Wu et al., 2024): no
    margin term, anchors κ_sq = 1, so L = (Δ_w − 1/(2β))² + (Δ_l + 1/(2β))²."""
    return MPOParams(beta=beta, lam_logsigmoid=0.0, anchor_square=1.0)


def distilled_point(beta: float = 0.1, ref_weight: float | None = None) -> MPOParams:
    """MPO parameters at which the loss equals the registered ``distilled`` loss (issue 18):
    a hinge link on the margin with reference weight r, L = max(0, 1 − β(Δ_w − Δ_l)),
    Δ = ℓ − r·ℓ_ref."""
    if ref_weight is None:
        from mirrorpo.losses.distilled import RULE_REF_WEIGHT as ref_weight
    return MPOParams(beta=beta, ref_switch=ref_weight, lam_logsigmoid=0.0, lam_hinge=1.0)


START_POINTS = {"dpo": dpo_point, "orpo": orpo_point, "apo-zero": apo_zero_point,
                "sppo-hard": sppo_hard_point, "distilled": distilled_point}
"""Start name → the MPO parameters of that exact point (at its default β / λ)."""


def _relu(x: float) -> float:
    return max(float(x), 0.0)


def _clip01(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


Coefficient = float | torch.Tensor


class Coefficients(NamedTuple):
    """The loss's constrained coefficients (module docstring), each a float for one loss
    (``coefficients``) or a (P, 1) tensor with one row per member of a stack of P losses
    (``stack_coefficients``). ``on`` names the optional terms in use (by some member of a
    stack; the others carry weight 0 there, which adds exactly 0 because every optional term
    is finite for log-likelihoods u ≤ 0). Schedule knots (non-negative) are float64."""

    s: Coefficient
    r: Coefficient
    beta: Coefficient
    w_id: Coefficient
    w_logodds: Coefficient
    w_exp: Coefficient
    q: Coefficient
    sp: tuple[tuple[Coefficient, Coefficient, Coefficient], ...]
    """(w_j, a_j, c_j) of the softplus terms."""
    margin: Coefficient
    lam_logsigmoid: Coefficient
    lam_exp: Coefficient
    lam_hinge: Coefficient
    lam_sigmoid: Coefficient
    anchor_logsigmoid: Coefficient
    anchor_sigmoid: Coefficient
    anchor_square: Coefficient
    beta_sq: Coefficient
    rho: tuple[Coefficient, Coefficient, Coefficient]
    alpha: tuple[Coefficient, Coefficient, Coefficient]
    on: frozenset[str]


OPTIONAL = ("s", "r", "w_logodds", "w_exp", "sp0", "sp1", "lam_exp", "lam_hinge",
            "lam_sigmoid", "anchor_logsigmoid", "anchor_sigmoid", "anchor_square")
"""Terms computed only when on (``Coefficients.on``); the others always are."""
ANCHORS = frozenset({"anchor_logsigmoid", "anchor_sigmoid", "anchor_square"})


def coefficients(p: MPOParams) -> Coefficients:
    """The constrained coefficients of one loss, as floats."""
    beta = max(p.beta, 1e-6)
    c = Coefficients(
        s=_clip01(p.length_power), r=_clip01(p.ref_switch), beta=beta,
        w_id=MIRROR_SLOPE_FLOOR + _relu(p.w_id), w_logodds=_relu(p.w_logodds),
        w_exp=_relu(p.w_exp), q=math.exp(p.log_q),
        sp=tuple((_relu(w), math.exp(log_a), float(c)) for w, log_a, c in
                 ((p.w_sp1, p.log_a1, p.c1), (p.w_sp2, p.log_a2, p.c2))),
        margin=float(p.margin), lam_logsigmoid=_relu(p.lam_logsigmoid),
        lam_exp=_relu(p.lam_exp), lam_hinge=_relu(p.lam_hinge),
        lam_sigmoid=_relu(p.lam_sigmoid), anchor_logsigmoid=_relu(p.anchor_logsigmoid),
        anchor_sigmoid=_relu(p.anchor_sigmoid), anchor_square=_relu(p.anchor_square),
        beta_sq=beta ** 2,
        rho=(_relu(p.rho0), _relu(p.rho_half), _relu(p.rho1)),
        alpha=(_relu(p.alpha0), _relu(p.alpha_half), _relu(p.alpha1)), on=frozenset())
    values = {"s": c.s, "r": c.r, "sp0": c.sp[0][0], "sp1": c.sp[1][0]}
    return c._replace(on=frozenset(
        name for name in OPTIONAL if values.get(name, getattr(c, name, 0.0)) > 0))


def stack_coefficients(params: Sequence[MPOParams], dtype: torch.dtype,
                       device: torch.device | str = "cpu") -> Coefficients:
    """The coefficients of P losses as (P, 1) columns of ``dtype`` (schedule knots float64),
    for ``mpo_loss_stacked``; ``on`` is the union of the members' terms."""
    each = [coefficients(p) for p in params]

    def column(values, kind=dtype):
        return torch.tensor([[float(v)] for v in values], dtype=kind, device=device)

    def stacked(name):
        return column(getattr(c, name) for c in each)

    scalars = {name: stacked(name) for name in Coefficients._fields
               if name not in ("sp", "rho", "alpha", "on")}
    return Coefficients(
        **scalars,
        sp=tuple(tuple(column(c.sp[j][k] for c in each) for k in range(3))
                 for j in range(len(each[0].sp))),
        rho=tuple(column((c.rho[k] for c in each), torch.float64) for k in range(3)),
        alpha=tuple(column((c.alpha[k] for c in each), torch.float64) for k in range(3)),
        on=frozenset().union(*(c.on for c in each)))


def _mirror(c: Coefficients, u: torch.Tensor) -> torch.Tensor:
    out = c.w_id * u
    if "w_logodds" in c.on:
        out = out + c.w_logodds * log_odds(u)
    if "w_exp" in c.on:
        out = out + c.w_exp * torch.exp(c.q * u)
    for j, (w, a, centre) in enumerate(c.sp):
        if f"sp{j}" in c.on:
            out = out + w * F.softplus(a * (u - centre))
    return out


def mirror_map(p: MPOParams, u: torch.Tensor) -> torch.Tensor:
    """f(u), increasing in u for every parameter value (see module docstring)."""
    return _mirror(coefficients(p), u)


def exp_link(x: torch.Tensor) -> torch.Tensor:
    """E(x) = e^(−x) for x ≥ −k, e^k·(1 − k − x) below (C¹, decreasing, finite); k = 20."""
    k = EXP_LINK_KNEE
    return torch.where(x >= -k, torch.exp(-x.clamp(min=-k)), math.exp(k) * (1 - k - x))


def _link(c: Coefficients, z: torch.Tensor) -> torch.Tensor:
    z = z - c.margin
    out = c.lam_logsigmoid * F.logsigmoid(z)
    if "lam_exp" in c.on:
        out = out - c.lam_exp * exp_link(z)
    if "lam_hinge" in c.on:
        out = out - c.lam_hinge * torch.relu(1 - z)
    if "lam_sigmoid" in c.on:
        out = out + c.lam_sigmoid * torch.sigmoid(z)
    return out


def link(p: MPOParams, z: torch.Tensor) -> torch.Tensor:
    """g(z): a non-negative mix of log σ, −e^(−z) and −hinge at margin m (increasing)."""
    return _link(coefficients(p), z)


def has_anchor(p: MPOParams) -> bool:
    return bool(coefficients(p).on & ANCHORS)


def _anchor(c: Coefficients, x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    if "anchor_logsigmoid" in c.on:
        out = out - c.anchor_logsigmoid * F.logsigmoid(x)
    if "anchor_sigmoid" in c.on:
        out = out + c.anchor_sigmoid * (1 - torch.sigmoid(x))
    if "anchor_square" in c.on:
        out = out + c.anchor_square * (x - 0.5) ** 2 / c.beta_sq
    return out


def anchor(p: MPOParams, x: torch.Tensor) -> torch.Tensor:
    """A(x) = −κ_ls·log σ(x) + κ_σ·(1 − σ(x)) + κ_sq·(x − ½)²/β², x = ±βΔ (decreasing for
    x < ½; the square pulls each scaled implicit reward to ½, as SPPO does)."""
    return _anchor(coefficients(p), x)


def _schedule(knots: tuple[Coefficient, Coefficient, Coefficient],
              tau: torch.Tensor) -> torch.Tensor:
    v0, vh, v1 = knots
    tau = torch.as_tensor(tau, dtype=torch.float64).clamp(0, 1)
    first = v0 + (vh - v0) * (tau / 0.5)
    second = vh + (v1 - vh) * ((tau - 0.5) / 0.5)
    return torch.where(tau <= 0.5, first, second)


def schedule(values: tuple[float, float, float], tau: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation through ``KNOTS`` of non-negative knot values."""
    return _schedule(tuple(_relu(v) for v in values), tau)


def _loss(batch: PreferenceBatch, c: Coefficients) -> torch.Tensor:
    def u(logps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return logps / lengths ** c.s if "s" in c.on else logps

    u_w = u(batch.policy_chosen_logps, batch.chosen_lengths)
    u_l = u(batch.policy_rejected_logps, batch.rejected_lengths)
    delta_w, delta_l = _mirror(c, u_w), _mirror(c, u_l)
    if "r" in c.on:
        delta_w = delta_w - c.r * _mirror(c, u(batch.reference_chosen_logps,
                                               batch.chosen_lengths))
        delta_l = delta_l - c.r * _mirror(c, u(batch.reference_rejected_logps,
                                               batch.rejected_lengths))
    rho = _schedule(c.rho, batch.progress).to(delta_w.dtype)
    alpha = _schedule(c.alpha, batch.progress).to(delta_w.dtype)
    preference = -_link(c, c.beta * (delta_w - delta_l))
    if c.on & ANCHORS:
        preference = preference + _anchor(c, c.beta * delta_w) + _anchor(c, -c.beta * delta_l)
    loss = rho * preference
    if bool((alpha > 0).any()):
        loss = loss + alpha * -u_w
    return loss


def mpo_loss(batch: PreferenceBatch, p: MPOParams) -> torch.Tensor:
    """Per-pair MPO/TA-MPO loss (B,); see the module docstring for the formula."""
    return _loss(batch, coefficients(p))


def mpo_loss_stacked(batch: PreferenceBatch, stack: Coefficients) -> torch.Tensor:
    """Per-pair losses (P, B) of P different MPO/TA-MPO losses in one call: row i of each
    batch tensor is member i's, ``stack`` its ``stack_coefficients``. The same formula as
    ``mpo_loss`` row by row, in a few dozen tensor operations instead of that many per
    member (the population trainer's loss cost); it agrees with per-member calls to
    rounding only (torch's vectorised and scalar kernels round transcendental functions
    differently, and a member's unused terms enter with weight 0)."""
    return _loss(batch, stack)


def _join(terms, sep: str) -> str:
    """Render the (weight, template) terms whose non-negative weight is positive."""
    return sep.join(render(_relu(w)) for w, render in terms if _relu(w) > 0)


def formula(p: MPOParams, family: str) -> str:
    """A readable formula of the loss at these parameters (zero terms omitted)."""
    s, r = _clip01(p.length_power), _clip01(p.ref_switch)
    f = _join([
        (p.w_id, lambda w: f"{w + MIRROR_SLOPE_FLOOR:.4g}·u"),
        (p.w_logodds, lambda w: f"{w:.4g}·logodds(u)"),
        (p.w_exp, lambda w: f"{w:.4g}·exp({math.exp(p.log_q):.4g}u)"),
        (p.w_sp1, lambda w: f"{w:.4g}·softplus({math.exp(p.log_a1):.4g}(u{-p.c1:+.4g}))"),
        (p.w_sp2, lambda w: f"{w:.4g}·softplus({math.exp(p.log_a2):.4g}(u{-p.c2:+.4g}))"),
    ], " + ") or f"{MIRROR_SLOPE_FLOOR:g}·u"
    g = _join([
        (p.lam_logsigmoid, lambda w: f"{w:.4g}·logσ(z)"),
        (p.lam_exp, lambda w: f"−{w:.4g}·exp(−z)"),
        (p.lam_hinge, lambda w: f"−{w:.4g}·max(0, 1−z)"),
        (p.lam_sigmoid, lambda w: f"+{w:.4g}·σ(z)"),
    ], " ") or "0"
    a = _join([
        (p.anchor_logsigmoid, lambda w: f"−{w:.4g}·logσ(x)"),
        (p.anchor_sigmoid, lambda w: f"+{w:.4g}·(1−σ(x))"),
        (p.anchor_square, lambda w: f"+{w:.4g}·(x−½)²/β²"),
    ], " ")
    ref = "" if r == 0 else (" − f(u_ref,w) + f(u_ref,l)" if r == 1 else
                             f" − {r:.3g}(f(u_ref,w) − f(u_ref,l))")
    z = f"z = {max(p.beta, 1e-6):.4g}·(f(u_w) − f(u_l){ref}) {'−' if p.margin >= 0 else '+'} "\
        f"{abs(p.margin):.4g}"
    pref = "−g(z)"
    if a:
        pref = "−g(z) + A(βΔ_w) + A(−βΔ_l)"
        delta = "f(u)" if r == 0 else ("f(u) − f(u_ref)" if r == 1 else f"f(u) − {r:.3g}f(u_ref)")
        g = f"{g}; A(x) = {a}; Δ = {delta}"
    if family == "ta-mpo":
        weights = (f"ρ(τ) = lin({_relu(p.rho0):.3g}, {_relu(p.rho_half):.3g}, "
                   f"{_relu(p.rho1):.3g}), α(τ) = lin({_relu(p.alpha0):.3g}, "
                   f"{_relu(p.alpha_half):.3g}, {_relu(p.alpha1):.3g})")
        head = f"L = ρ(τ)·({pref}) + α(τ)·(−u_w)" if a else "L = −ρ(τ)·g(z) + α(τ)·(−u_w)"
    else:
        weights = f"α = {_relu(p.alpha0):.4g}"
        head = f"L = {pref} + α·(−u_w)"
    return (f"{head}; g(z) = {g}; {z}; f(u) = {f}; "
            f"u = ℓ/|y|^{s:.3g}; {weights}")


@dataclass(frozen=True)
class MPOLoss:
    """A member of the MPO family: callable on a batch, saved and loaded as JSON.

    ``fitted_on`` holds the fingerprints (``mirrorpo.data.dataset.fingerprint``) of the
    datasets a search fitted it on, saved as the file's ``"fitted_on"`` when not empty; it is
    a record, not part of the loss (equality ignores it)."""

    family: str
    params: MPOParams
    fitted_on: tuple[str, ...] = field(default=(), compare=False)

    def __call__(self, batch: PreferenceBatch) -> torch.Tensor:
        return mpo_loss(batch, self.params)

    @property
    def vector(self) -> np.ndarray:
        return to_vector(self.params, self.family)

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "version": FAMILIES[self.family],
            "names": list(param_names(self.family)),
            "vector": [float(v) for v in self.vector],
            "formula": formula(self.params, self.family),
            **({"fitted_on": list(self.fitted_on)} if self.fitted_on else {}),
        }

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")


def with_coordinates(loss: MPOLoss, values: dict[str, float], where: str) -> MPOLoss:
    """``loss`` with some flat-vector coordinates (``param_names``) set, e.g. ``{"beta":
    0.05}`` to move a discovered loss along its β axis; ConfigError naming ``where`` for a
    name the family does not have or a rate that would overflow."""
    from mirrorpo.config import ConfigError
    from mirrorpo.schemas import MAX_LOG_RATE

    names = param_names(loss.family)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"loss {where!r}: {loss.family} has no coordinate(s) {unknown}; "
                          f"it has {', '.join(names)}")
    for name, v in values.items():
        if not np.isfinite(v) or (name.startswith("log_") and v > MAX_LOG_RATE):
            raise ConfigError(f"loss {where!r}: {name} = {v:g} is not finite or too large")
    vector = [values.get(n, v) for n, v in zip(names, loss.vector, strict=True)]
    return MPOLoss(loss.family, from_vector(vector, loss.family), loss.fitted_on)


def in_family(loss: MPOLoss, family: str) -> MPOLoss:
    """The same loss as a member of ``family``.

    MPO → TA-MPO is exact (constant schedules α(τ) ≡ α, ρ ≡ 1); TA-MPO → MPO only when the
    schedules are constant with ρ ≡ 1, otherwise ValueError (as for an unknown family, from
    ``param_names``).
    """
    p = loss.params
    if family == "mpo" and not (p.alpha0 == p.alpha_half == p.alpha1
                                and _relu(p.rho0) == _relu(p.rho_half) == _relu(p.rho1) == 1.0):
        raise ValueError("a TA-MPO loss with non-constant α(τ) or ρ(τ) ≠ 1 is not an MPO loss")
    return MPOLoss(family, from_vector(to_vector(p, family), family))


# ----------------------------------------------------------------------------- LossFamily

U_RANGE = (-5.0, -1e-3)
"""Input range of the mirror-map plot (per-step log-likelihoods)."""
Z_RANGE = (-10.0, 10.0)
"""Argument range of the link and anchor plots."""
LINK_FLOOR = -25.0
"""Lower y-limit of the link plot (an exponential link reaches −1e4 at z = −10)."""


def _input_name(p: MPOParams) -> str:
    s = _clip01(p.length_power)
    return "u = ℓ (summed log-likelihood)" if s == 0 else f"u = ℓ/|y|^{s:.3g}"


def _plot_mirror(params: dict[str, MPOParams], ax) -> None:
    u = torch.linspace(*U_RANGE, 400, dtype=torch.float64)
    x = u.numpy()
    ax.plot(x, x, color="0.5", ls="--", lw=1, label="DPO: f = u")
    ax.plot(x, log_odds(u).numpy(), color="0.5", ls=":", lw=1, label="ORPO: logodds(u)")
    inputs = []
    for i, (name, p) in enumerate(params.items()):
        ax.plot(x, mirror_map(p, u).numpy(), color=f"C{i}", label=name)
        inputs.append(f"{name}: {_input_name(p)}")
    ax.set_xlabel("u")
    ax.set_title("mirror map f(u)\n" + "; ".join(inputs), fontsize=8)


def _plot_link(params: dict[str, MPOParams], ax) -> None:
    z = torch.linspace(*Z_RANGE, 400, dtype=torch.float64)
    x = z.numpy()
    ax.plot(x, F.logsigmoid(z).numpy(), color="0.5", ls="--", lw=1, label="DPO: log σ(z)")
    lowest, highest = float(F.logsigmoid(z).min()), 0.0
    for i, (name, p) in enumerate(params.items()):
        g = link(p, z).numpy()
        lowest, highest = min(lowest, float(g.min())), max(highest, float(g.max()))
        ax.plot(x, g, color=f"C{i}", label=name)
    title = "link g"
    if lowest < LINK_FLOOR:
        ax.set_ylim(LINK_FLOOR, highest + 0.05 * (highest - LINK_FLOOR))
        title += f" (y clipped at {LINK_FLOOR:g}; lowest value {lowest:.3g})"
    ax.set_xlabel("β·h (the margin m is subtracted inside g)")
    ax.set_title(title, fontsize=8)


def _plot_anchor(params: dict[str, MPOParams], ax) -> None:
    x = torch.linspace(*Z_RANGE, 400, dtype=torch.float64)
    ax.plot(x.numpy(), (1 - torch.sigmoid(x)).numpy(), color="0.5", ls="--", lw=1,
            label="APO-zero: 1 − σ(x)")
    for i, (name, p) in enumerate(params.items()):
        ax.plot(x.numpy(), anchor(p, x).numpy(), color=f"C{i}", label=name)
    ax.set_xlabel("x = βΔ_w (chosen) or −βΔ_l (rejected)")
    ax.set_title("anchor A(x), per response", fontsize=8)


def _plot_schedules(params: dict[str, MPOParams], ax) -> None:
    tau = torch.linspace(0, 1, 101, dtype=torch.float64)
    x = tau.numpy()
    for i, (name, p) in enumerate(params.items()):
        alpha = schedule((p.alpha0, p.alpha_half, p.alpha1), tau).numpy()
        rho = schedule((p.rho0, p.rho_half, p.rho1), tau).numpy()
        ax.plot(x, alpha, color=f"C{i}", label=f"α(τ) {name}")
        ax.plot(x, rho, color=f"C{i}", ls="--", label=f"ρ(τ) {name}")
    ax.set_xlabel("training progress τ")
    ax.set_title("schedules α(τ) (imitation), ρ(τ) (preference)", fontsize=8)


def _start_vector(point, family: str) -> np.ndarray:
    return to_vector(point(), family)


class MPOFamily:
    """MPO or TA-MPO as a :class:`mirrorpo.losses.family.LossFamily`; its members are
    :class:`MPOLoss` objects and its loss files those of :meth:`MPOLoss.save`."""

    def __init__(self, name: str):
        self.name = name
        self.version = FAMILIES[name]
        self.param_names = param_names(name)
        self.start_points = {k: partial(_start_vector, point, name)
                             for k, point in START_POINTS.items()}

    def __repr__(self) -> str:
        return f"MPOFamily({self.name!r})"

    def loss(self, vector: np.ndarray | list[float]) -> MPOLoss:
        return MPOLoss(self.name, from_vector(vector, self.name))

    def formula(self, vector: np.ndarray) -> str:
        return formula(from_vector(vector, self.name), self.name)

    def load(self, path: str | Path) -> MPOLoss:
        loss = load_mpo(path)
        if loss.family != self.name:
            raise ValueError(f"{path}: a {loss.family} loss file, not {self.name}")
        return loss

    def convert(self, loss) -> np.ndarray:
        """Exact, via :func:`in_family`; ValueError for a loss outside MPO / TA-MPO."""
        if not isinstance(loss, MPOLoss):
            raise ValueError(f"a {getattr(loss, 'family', type(loss).__name__)} loss is not "
                             f"an MPO-family loss, so not a {self.name} one")
        return in_family(loss, self.name).vector

    def plot_panels(self, vectors) -> list:
        """Mirror map and link; the anchor where a vector uses one; for TA-MPO the α/ρ
        schedules. Curves are computed in float64 with the loss's own functions."""
        from mirrorpo.losses.family import Panel

        params = {k: from_vector(v, self.name) for k, v in vectors.items()}
        panels = [Panel("mirror map f(u)", partial(_plot_mirror, params)),
                  Panel("link g", partial(_plot_link, params))]
        if any(has_anchor(p) for p in params.values()):
            panels.append(Panel("anchor A(x)", partial(_plot_anchor, params)))
        if self.name == "ta-mpo":
            panels.append(Panel("schedules α(τ), ρ(τ)", partial(_plot_schedules, params)))
        return panels


MPO_FAMILY = MPOFamily("mpo")
TA_MPO_FAMILY = MPOFamily("ta-mpo")


def load_mpo(path: str | Path) -> MPOLoss:
    """Load a loss file written by :meth:`MPOLoss.save`; errors (ValueError) name the file and
    the problem, whatever JSON the file holds (``mirrorpo.schemas.LossFile``)."""
    from reprlib import repr as short

    from mirrorpo.schemas import MAX_LOG_RATE, LossFile, validate

    path = Path(path)
    raw = read_json(path, "loss file")
    family = raw.get("family") if isinstance(raw, dict) else None
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"{path}: unknown loss family {short(family)}; "
                         f"known: {', '.join(FAMILIES)}")
    version = raw.get("version")
    if type(version) is not int or version not in (1, FAMILIES[family]):
        raise ValueError(f"{path}: {family} version {short(version)} is not supported "
                         f"(this mirrorpo reads versions 1 to {FAMILIES[family]})")
    names = list(param_names(family) if version == FAMILIES[family] else param_names_v1(family))
    if raw.get("names", names) != names:
        raise ValueError(f"{path}: parameter names do not match {family} v{version}")
    vector = raw.get("vector")
    if not isinstance(vector, list) or len(vector) != len(names):
        raise ValueError(f"{path}: 'vector' must be {len(names)} finite numbers")
    checked = validate(LossFile, raw, path)  # numbers, finite; no unknown keys
    vector = checked.vector
    for name, v in zip(names, vector, strict=True):
        if name.startswith("log_") and v > MAX_LOG_RATE:  # the rate is exp(v)
            raise ValueError(f"{path}: vector: {name} = {v:g} is too large "
                             f"(its rate exp({name}) overflows; at most {MAX_LOG_RATE:g})")
    if version != FAMILIES[family]:  # new coordinates at their defaults: the same loss
        values = dict(zip(names, vector, strict=True))
        vector = [values.get(n, getattr(MPOParams(), n)) for n in param_names(family)]
    return MPOLoss(family, from_vector(vector, family), tuple(checked.fitted_on or ()))
