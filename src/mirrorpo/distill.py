"""The distillation rule: knock-out ablations of discovered losses → one closed-form loss.

Registered before any ablation ran (docs/protocols/distilled-suite.md, "The rule"). The
distilled loss is DPO's margin with a bounded link and at most two more axes, each evidenced
by the knock-out terms of the ablated losses (``mirrorpo.ablation``):

    L = −g(β[(u_w − u_l) − r(u_ref,w − u_ref,l)] − m) + A(…) + α(τ)·(−u_w),   u = ℓ/|y|^s

with g one of log σ, −hinge, σ, an MPO point (docs/mpo.md) with f the identity. The cost of a
term in a loss is the paired difference original − variant on the confirmation's draws and
seeds (what the loss loses without it), supported when above 0 after Holm over the loss's
knock-out terms; an axis's evidence is the mean of its cost over the ablated losses (0 where a
loss does not use it). ``distill`` is pure; ``read_ablated`` and ``distill_runs`` read
finished confirmations, and the caller writes the loss file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mirrorpo.ablation import used_value
from mirrorpo.fileio import read_json
from mirrorpo.losses.mpo import MPOLoss, MPOParams, load_mpo
from mirrorpo.verdicts import Difference, difference, holm, paired_differences

AXES: dict[str, tuple[str, ...]] = {
    "ref_switch": ("ref_switch",),
    "length_power": ("length_power",),
    "margin": ("margin",),
    "alpha": ("alpha",),
    "anchor": ("anchor_logsigmoid", "anchor_sigmoid", "anchor_square"),
}
"""Axis of the distilled loss → the knock-out terms that evidence it."""
LINKS: dict[str, tuple[str, ...]] = {
    "lam_logsigmoid": ("lam_logsigmoid",),
    "lam_hinge": ("lam_hinge", "lam_exp"),  # the exponential's linear pull, with a bounded slope
    "lam_sigmoid": ("lam_sigmoid",),
}
"""Link of the distilled loss (its MPO weight, set to 1) → the terms that evidence it."""
NOT_DISTILLED = ("w_logodds", "w_exp", "w_sp1", "w_sp2")
"""Mirror-map terms: f stays the identity; their costs are reported, not used."""
MAX_AXES = 2


@dataclass(frozen=True)
class Ablated:
    """One ablated loss: its file, the loss, and each knock-out term's cost
    (original − variant, paired over the confirmation's draws and seeds)."""

    file: str
    loss: MPOLoss
    costs: dict[str, Difference]

    @property
    def supported(self) -> set[str]:
        """The terms whose cost is above 0 after Holm–Bonferroni over this loss's knock-out
        terms at α = 0.05 (rule step 1, amendment of 2026-12-02)."""
        terms = list(self.costs)
        rejected, _ = holm([self.costs[t].p_value for t in terms])
        return {t for t, r in zip(terms, rejected, strict=True) if r and self.costs[t].mean > 0}


@dataclass(frozen=True)
class Evidence:
    """An axis's (or link's) evidence: the mean over ablated losses of its largest term cost,
    and whether one of its terms is supported in some loss (``Ablated.supported``)."""

    mean_cost: float
    supported: bool
    term: str | None
    """The term with the largest mean cost among the axis's terms (the anchor chosen)."""


@dataclass(frozen=True)
class Distilled:
    """The rule's output. ``loss`` is None when no axis has positive evidence."""

    loss: MPOLoss | None
    axes: tuple[str, ...]
    link: str
    schedules: tuple[str, ...]
    supported: bool
    """Whether every chosen axis is supported (False: the fallback of rule step 3)."""
    evidence: dict[str, Evidence]
    link_evidence: dict[str, Evidence]
    mirror_costs: dict[str, float]


def term_costs(scores: dict[str, np.ndarray], original: str, variants: dict[str, str],
               method: str = "draw-t") -> dict[str, Difference]:
    """term → paired difference original − variant, from a confirmation's scores
    (label → (draws, seeds)); ``variants``: term → the variant's label."""
    return {term: difference(paired_differences(scores[original], scores[label]), method)
            for term, label in variants.items()}


def evidence(ablated: list[Ablated], terms: tuple[str, ...]) -> Evidence:
    """Evidence for the group ``terms`` (rule steps 1–2): per term, the mean over losses of
    its cost (0 where a loss has no variant for it); the group takes its costliest term."""
    def mean_cost(t: str) -> float:
        return float(np.mean([a.costs[t].mean if t in a.costs else 0.0 for a in ablated]))

    best = max(terms, key=mean_cost)
    supported = any(t in a.supported for a in ablated for t in terms)
    return Evidence(mean_cost(best), supported, best)


def choose_axes(found: dict[str, Evidence]) -> tuple[tuple[str, ...], bool]:
    """Rule step 3: the supported axes with positive evidence, the MAX_AXES largest; else the
    MAX_AXES with the largest positive evidence (flagged unsupported); else none."""
    positive = sorted((a for a, e in found.items() if e.mean_cost > 0),
                      key=lambda a: -found[a].mean_cost)
    supported = [a for a in positive if found[a].supported]
    if supported:
        return tuple(supported[:MAX_AXES]), True
    return tuple(positive[:MAX_AXES]), False


def choose_link(found: dict[str, Evidence]) -> str:
    """Rule step 5: log σ unless the hinge's or σ's evidence is positive and larger."""
    other = max(("lam_hinge", "lam_sigmoid"), key=lambda k: found[k].mean_cost)
    if found[other].mean_cost > max(found["lam_logsigmoid"].mean_cost, 0.0):
        return other
    return "lam_logsigmoid"


def axis_value(losses: list[MPOLoss], axis: str, term: str | None) -> float:
    """Rule step 4: the median over the losses that use the axis of its used value."""
    def value(loss: MPOLoss) -> float:
        p = loss.params
        if axis == "alpha":
            a0, ah, a1 = (used_value(n, getattr(p, n)) for n in ("alpha0", "alpha_half", "alpha1"))
            return (a0 + 2 * ah + a1) / 4 if loss.family == "ta-mpo" else a0
        name = term if axis == "anchor" else axis
        return used_value(name, getattr(p, name))

    neutral = {"ref_switch": 1.0}.get(axis, 0.0)
    used = [value(x) for x in losses if value(x) != neutral]
    return float(np.median(used)) if used else neutral


def schedule_direction(losses: list[MPOLoss], names: tuple[str, str, str]) -> str:
    """"decay" if the median over the TA-MPO losses of v(0) − v(1) is positive, else
    "rise"."""
    starts = [used_value(names[0], getattr(x.params, names[0])) -
              used_value(names[2], getattr(x.params, names[2]))
              for x in losses if x.family == "ta-mpo"]
    return "decay" if starts and float(np.median(starts)) > 0 else "rise"


def ramp(mean: float, direction: str) -> tuple[float, float, float]:
    """Knots at τ = 0, ½, 1 of a linear schedule with the given mean over training."""
    return (2 * mean, mean, 0.0) if direction == "decay" else (0.0, mean, 2 * mean)


def distill(ablated: list[Ablated], fitted_on: tuple[str, ...] = (),
            beta: float = 0.1) -> Distilled:
    """Apply the registered rule (module docstring; docs/protocols/distilled-suite.md) to the
    ablated losses; β is a placeholder, tuned per target afterwards."""
    if not ablated:
        raise ValueError("the distillation rule needs at least one ablated loss")
    losses = [a.loss for a in ablated]
    found = {axis: evidence(ablated, terms) for axis, terms in AXES.items()}
    links = {link: evidence(ablated, terms) for link, terms in LINKS.items()}
    mirror = {t: evidence(ablated, (t,)).mean_cost for t in NOT_DISTILLED}
    axes, supported = choose_axes(found)
    link = choose_link(links)
    if not axes:
        return Distilled(None, (), link, (), False, found, links, mirror)
    p = replace(MPOParams(), beta=beta, **({"lam_logsigmoid": 0.0} | {link: 1.0}))
    for axis in axes:
        term = found[axis].term
        v = axis_value(losses, axis, term)
        if axis == "alpha":
            p = replace(p, alpha0=v, alpha_half=v, alpha1=v)
        else:
            p = replace(p, **{term if axis == "anchor" else axis: v})
    schedules = []

    def schedule_supported(term: str) -> bool:
        return any(term in a.supported for a in ablated)

    if "alpha" in axes and schedule_supported("alpha_schedule"):
        knots = ramp(p.alpha0, schedule_direction(losses, ("alpha0", "alpha_half", "alpha1")))
        p = replace(p, **dict(zip(("alpha0", "alpha_half", "alpha1"), knots, strict=True)))
        schedules.append("alpha_schedule")
    if schedule_supported("rho_schedule"):
        knots = ramp(1.0, schedule_direction(losses, ("rho0", "rho_half", "rho1")))
        p = replace(p, **dict(zip(("rho0", "rho_half", "rho1"), knots, strict=True)))
        schedules.append("rho_schedule")
    family = "ta-mpo" if schedules else "mpo"
    return Distilled(MPOLoss(family, p, tuple(fitted_on)), axes, link, tuple(schedules),
                     supported, found, links, mirror)


def _confirmation(d: Path) -> tuple[dict, dict]:
    """A finished confirmation's config.json and scores.json."""
    for f in ("config.json", "scores.json"):
        if not (d / f).is_file():
            raise FileNotFoundError(f"{d}: no {f}; not a finished `mirrorpo confirm` run")
    return (read_json(d / "config.json", "confirmation config"),
            read_json(d / "scores.json", "confirmation scores"))


def read_ablated(confirm_dir: str | Path, original: str) -> Ablated:
    """The knock-out rows of the candidate file ``original`` in a finished confirmation: its
    variants are the exploratory files whose ``ablation_of`` is ``original``."""
    from mirrorpo.losses.resolve import resolve_loss

    d = Path(confirm_dir)
    cfg, raw = _confirmation(d)
    if original not in cfg["candidates"]:
        raise ValueError(f"{d}: {original} is not a candidate of this confirmation")
    variants = {}
    for f in cfg.get("exploratory", []):
        meta = read_json(f, "loss file")
        if isinstance(meta, dict) and meta.get("ablation_of") == original:
            variants[meta["dropped"]] = resolve_loss(f).label
    if not variants:
        raise ValueError(f"{d}: no knock-out rows of {original}")
    scores = {k: np.asarray(v, float) for k, v in raw["scores"].items()}
    costs = term_costs(scores, resolve_loss(original).label, variants, raw["method"])
    return Ablated(original, load_mpo(original), costs)


def draw_fingerprints(confirm_dir: str | Path) -> set[str]:
    """The fingerprints of a confirmation's draws (their card.json)."""
    cfg = read_json(Path(confirm_dir) / "config.json", "confirmation config")
    return {read_json(Path(d) / "card.json", "dataset card")["fingerprint"]
            for d in cfg["draws"]}


def distill_runs(ablated: list[tuple[str | Path, str]], beta: float = 0.1,
                 also_fitted: tuple[str, ...] = ()) -> Distilled:
    """The rule applied to knock-out rows in finished confirmations: ``ablated`` holds
    (confirmation directory, original loss file) pairs. Every input is read before the rule
    runs. The loss's ``fitted_on`` is every draw the evidence came from (the ablated losses'
    own ``fitted_on`` and the confirmations' draws) and ``also_fitted``, so that `confirm`
    refuses them."""
    found = [read_ablated(d, f) for d, f in ablated]
    fitted = set(also_fitted).union(*(a.loss.fitted_on for a in found),
                                    *(draw_fingerprints(d) for d, _ in ablated))
    return distill(found, tuple(sorted(fitted)), beta)


def report(result: Distilled) -> str:
    """The rule's output for people: evidence per axis and link, what was chosen, the loss."""
    def row(name: str, e: Evidence, chosen: bool) -> str:
        return (f"| {name} | {e.term} | {e.mean_cost:+.2f} | {'yes' if e.supported else 'no'} "
                f"| {'**chosen**' if chosen else ''} |")

    lines = ["| axis or link | costliest term | evidence (mean cost) | supported | |",
             "|---|---|---:|---|---|"]
    lines += [row(a, e, a in result.axes) for a, e in result.evidence.items()]
    lines += [row(k, e, k == result.link) for k, e in result.link_evidence.items()]
    lines += [f"| mirror map (not distilled) | {t} | {c:+.2f} | | |"
              for t, c in result.mirror_costs.items()]
    if result.loss is None:
        lines += ["", "No axis has positive evidence: nothing is distilled."]
    else:
        lines += ["", f"Distilled ({result.loss.family}): axes {', '.join(result.axes)}; link "
                  f"{result.link}; schedules {', '.join(result.schedules) or 'none'}; "
                  + ("supported by the ablations (Holm over each loss's knock-outs)."
                     if result.supported else "**not supported by the ablations** (no chosen "
                     "axis passes Holm over a loss's knock-outs: rule step 3's fallback)."),
                  "", "    " + result.loss.to_json()["formula"]]
    return "\n".join(lines) + "\n"
