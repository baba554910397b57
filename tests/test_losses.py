"""Loss library: registry-driven properties and hand-checked values."""

import math

import pytest
import torch

from mirrorpo.losses import LOSSES, PreferenceBatch, get_loss


def batch(b=64, seed=0, lengths=10.0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    lens = torch.full((b,), lengths, dtype=torch.float64)
    # log-likelihoods of probabilities: negative, per-token mean in (-3, -0.01)
    mean = -(torch.rand(4, b, generator=g, dtype=torch.float64) * 3 + 0.01)
    logps = mean * lengths
    if requires_grad:
        logps.requires_grad_(True)
    return PreferenceBatch(logps[0], logps[1], logps[2], logps[3], lens, lens,
                           torch.tensor(0.5, dtype=torch.float64)), logps


def fixed(pc, pr, rc=0.0, rr=0.0, length=1.0):
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    return PreferenceBatch(t(pc), t(pr), t(rc), t(rr), t(length), t(length), t(0.0))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_per_pair_shape_finite_values_and_gradients(name):
    b, logps = batch(requires_grad=True)
    loss = get_loss(name)(b)
    assert loss.shape == (64,)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(logps.grad).all()
    if not get_loss(name).uses_reference:
        assert (logps.grad[2:] == 0).all(), "reference-free loss must ignore π_ref"


@pytest.mark.parametrize("name", sorted(set(LOSSES) - {"discopop"}))
def test_prefers_raising_chosen_over_rejected(name):
    """Every preference loss decreases when the chosen log-likelihood rises (others fixed)."""
    lo = get_loss(name)(fixed(-2.0, -1.5, -1.8, -1.8)).item()
    hi = get_loss(name)(fixed(-1.0, -1.5, -1.8, -1.8)).item()
    assert hi <= lo


def test_discopop_is_not_monotone_near_zero_margin():
    """DiscoPOP's modulation makes it non-monotone around h = 0 (Chan Lu et al., 2024, §5)."""
    lo = get_loss("discopop")(fixed(-2.0, -1.5, -1.8, -1.8)).item()  # z = −0.025
    hi = get_loss("discopop")(fixed(-1.0, -1.5, -1.8, -1.8)).item()  # z = +0.025
    assert hi > lo


def test_hand_checked_values():
    zero = fixed(-1.0, -1.0, -1.0, -1.0)  # h = 0
    assert get_loss("dpo")(zero).item() == pytest.approx(math.log(2))
    assert get_loss("hinge")(zero).item() == pytest.approx(1.0)
    assert get_loss("ipo")(zero, beta=0.25).item() == pytest.approx(4.0)  # (0 − 2)²
    assert get_loss("discopop")(zero).item() == pytest.approx(0.5 * math.log(2) + 0.5)
    assert get_loss("apo_zero")(zero).item() == pytest.approx(1.0)
    assert get_loss("exo_pair")(zero).item() == pytest.approx(
        0.5 * (math.log(0.5) - math.log(1 - 1e-3)) + 0.5 * (math.log(0.5) - math.log(1e-3)))
    m = fixed(-1.0, -3.0, -2.0, -2.0)  # h = 2
    assert get_loss("dpo")(m, beta=0.5).item() == pytest.approx(math.log1p(math.exp(-1.0)))
    assert get_loss("hinge")(m, beta=0.5).item() == pytest.approx(0.0)
    # ORPO with probabilities p_w = e^-1, p_l = e^-3 (length 1)
    pw, pl = math.exp(-1.0), math.exp(-3.0)
    odds = math.log(pw / (1 - pw)) - math.log(pl / (1 - pl))
    want = 1.0 + 0.1 * math.log1p(math.exp(-odds))
    assert get_loss("orpo")(m).item() == pytest.approx(want)
    # SimPO: −log σ(β(ℓ̄_w − ℓ̄_l) − γ) with γ = β·ratio
    assert get_loss("simpo")(m, beta=2.0, gamma_beta_ratio=0.5).item() == pytest.approx(
        math.log1p(math.exp(-(2.0 * 2.0 - 1.0))))
    assert get_loss("sppo_hard")(m, beta=0.5).item() == pytest.approx((1 - 1) ** 2 + (-1 + 1) ** 2)


def test_smoothed_variants_reduce_to_dpo_at_zero_noise():
    """The formulas at ε = 0 (outside the declared range, where they are a no-op) are DPO."""
    b, _ = batch(seed=3)
    dpo = get_loss("dpo")(b, beta=0.3)
    torch.testing.assert_close(get_loss("cdpo").fn(b, beta=0.3, label_smoothing=0.0), dpo)
    torch.testing.assert_close(get_loss("rdpo").fn(b, beta=0.3, label_smoothing=0.0), dpo)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_hyperparameter_has_a_range_that_refuses_bad_values(name):
    """A value outside a loss's declared range is a one-line error naming the loss and the
    value, before any work; the registered defaults are inside their ranges."""
    from mirrorpo.config import ConfigError
    from mirrorpo.losses.resolve import resolve_loss

    spec = LOSSES[name]
    spec.check({})
    for key, rng in spec.ranges.items():
        bad = rng.gt if rng.gt is not None else (rng.ge - 1 if rng.ge is not None else None)
        if bad is None:
            continue
        with pytest.raises(ConfigError, match=f"loss '{name}': {key} must be") as err:
            resolve_loss(f"{name}:{key}={bad:g}")
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(("spec", "why"), [
    ("dpo:beta=0", "beta must be > 0"), ("cdpo:label_smoothing=0", "label_smoothing must be > 0"),
    ("rdpo:label_smoothing=0.5", "label_smoothing must be < 0.5"),
    ("exo_pair:label_smoothing=0", "label_smoothing must be > 0"),
    ("discopop:discopop_tau=0", "discopop_tau must be > 0"), ("ipo:beta=-1", "beta must be > 0"),
    ("dpo:beta=nan", "must be a number"), ("dpo:beta=x", "is not a number"),
    ("dpo:gamma=1", "no hyper-parameter"), ("dpo:beta=1,beta=2", "given twice"),
])
def test_out_of_domain_hyperparameters_are_refused(spec, why):
    from mirrorpo.config import ConfigError
    from mirrorpo.losses.resolve import resolve_loss

    with pytest.raises(ConfigError, match=why):
        resolve_loss(spec)


def test_rdpo_is_unbiased_under_label_flips():
    """E over a flip with prob ε of rDPO equals the clean DPO loss (Chowdhury et al. Lemma 3.1)."""
    b, _ = batch(seed=4)
    eps = 0.2
    flipped = PreferenceBatch(b.policy_rejected_logps, b.policy_chosen_logps,
                              b.reference_rejected_logps, b.reference_chosen_logps,
                              b.rejected_lengths, b.chosen_lengths, b.progress)
    rdpo = get_loss("rdpo")
    expected = (1 - eps) * rdpo(b, label_smoothing=eps) + eps * rdpo(flipped, label_smoothing=eps)
    torch.testing.assert_close(expected, get_loss("dpo")(b))


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown loss 'dpoo'"):
        get_loss("dpoo")
    with pytest.raises(ValueError, match="no hyper-parameter"):
        get_loss("dpo")(batch()[0], gamma=1.0)


def test_docs_table_lists_every_registered_loss():
    from pathlib import Path

    from mirrorpo.cli.render import markdown_table
    from mirrorpo.cli.search import loss_rows

    doc = (Path(__file__).parent.parent / "docs" / "losses.md").read_text()
    head = ("loss", "uses π_ref", "defaults (TRL names)", "valid ranges", "formula and source")
    assert markdown_table(head, loss_rows()) in doc, "regenerate with `mirrorpo losses --markdown`"


def test_a_loss_file_moved_along_one_coordinate(tmp_path):
    """``best.json:beta=X`` is the file's loss with β set (and nothing else changed); the
    runs that check a file's fitting draws refuse it, so none slips past that check."""
    from mirrorpo.config import ConfigError
    from mirrorpo.confirm import ConfirmConfig
    from mirrorpo.losses.mpo import MPOLoss, dpo_point
    from mirrorpo.losses.resolve import resolve_loss

    path = tmp_path / "best.json"
    MPOLoss("mpo", dpo_point(0.5), fitted_on=("bfa4e47dde6ce72f",)).save(path)
    moved = resolve_loss(f"{path}:beta=0.05")
    assert moved.label == "mpo:best:beta=0.05" and moved.spec == f"{path}:beta=0.05"
    assert moved.fn.params == dpo_point(0.05) and moved.fn.fitted_on == ("bfa4e47dde6ce72f",)
    b, _ = batch()
    torch.testing.assert_close(moved(b), get_loss("dpo")(b, beta=0.05))
    assert resolve_loss(str(path)).fn.params == dpo_point(0.5)  # the file is unchanged
    with pytest.raises(ConfigError, match="mpo has no coordinate.*'betta'"):
        resolve_loss(f"{path}:betta=0.05")
    with pytest.raises(ConfigError, match="too large"):
        resolve_loss(f"{path}:log_q=1e6")
    with pytest.raises(ConfigError, match="ConfirmConfig: .*coordinates set is not accepted"):
        ConfirmConfig(target="t", candidates=(f"{path}:beta=0.05",), tuned="tuned.json",
                      draws=("a", "b"))


@pytest.mark.parametrize("lengths", [1.0, 300.0, 3000.0])
def test_distilled_gradient_is_bounded_by_beta_on_any_scale(lengths):
    """The distilled loss's hinge pulls each pair with slope at most β on every
    log-likelihood scale (the exponential link it replaces grows with the scale), and at r = 1
    it is SLiC's hinge."""
    b, logps = batch(b=256, seed=3, lengths=lengths, requires_grad=True)
    beta = 0.1
    loss = get_loss("distilled")(b, beta=beta)
    (grad,) = torch.autograd.grad(loss.sum(), logps)
    assert grad.abs().max() <= beta + 1e-12
    assert (loss > 0).any()
    plain, _ = batch(b=256, seed=3, lengths=lengths)
    torch.testing.assert_close(get_loss("distilled")(plain, beta=beta, ref_weight=1.0),
                               get_loss("hinge")(plain, beta=beta))
