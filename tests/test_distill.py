"""The distillation rule of docs/protocols/distilled-suite.md on knock-out results."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mirrorpo.ablation import AblationConfig, ablate
from mirrorpo.distill import Ablated, distill, read_ablated, report
from mirrorpo.losses.mpo import MPOLoss, MPOParams
from mirrorpo.losses.registry import PreferenceBatch
from mirrorpo.verdicts import Difference


def cost(mean: float, p: float) -> Difference:
    return Difference(mean, (mean - 1, mean + 1), 0.95, p, 10, 3, "draw-t")


def loss(**kw) -> MPOLoss:
    return MPOLoss(kw.pop("family", "mpo"), MPOParams(**kw))


A = loss(beta=0.5, ref_switch=0.6, margin=0.4, alpha0=0.2, alpha_half=0.2, alpha1=0.2)
B = loss(beta=0.3, ref_switch=0.8, margin=0.0, alpha0=0.0)


def test_supported_axes_win_over_larger_unsupported_ones():
    # Holm over A's 4 terms: p 0.001, 0.004, 0.01 pass (below α/4, α/3, α/2); alpha's 0.2 not
    ablated = [
        Ablated("a.json", A, {"ref_switch": cost(6.0, 0.004), "margin": cost(2.0, 0.01),
                              "alpha": cost(9.0, 0.2), "lam_logsigmoid": cost(30.0, 0.001)}),
        Ablated("b.json", B, {"ref_switch": cost(2.0, 0.4), "lam_logsigmoid": cost(25.0, 0.001)}),
    ]
    out = distill(ablated, fitted_on=("fp1",))
    assert out.axes == ("ref_switch", "margin") and out.supported  # alpha: larger, unsupported
    assert out.link == "lam_logsigmoid" and out.schedules == ()
    p = out.loss.params
    assert p.ref_switch == pytest.approx(0.7)  # median of 0.6 and 0.8
    assert p.margin == pytest.approx(0.4)  # B does not use the margin
    assert p.alpha0 == 0.0 and p.lam_logsigmoid == 1.0 and out.loss.fitted_on == ("fp1",)
    assert "**chosen**" in report(out)


def test_without_support_the_largest_positive_axes_are_flagged():
    # ref_switch's p = 0.02 would pass alone (< 0.05) but not Holm over 3 terms (α/3)
    ablated = [Ablated("a.json", A, {"ref_switch": cost(1.0, 0.02), "margin": cost(-1.0, 0.3),
                                     "alpha": cost(3.0, 0.2)})]
    out = distill(ablated)
    assert out.axes == ("alpha", "ref_switch") and not out.supported
    assert "not supported" in report(out)
    nothing = distill([Ablated("a.json", A, {"ref_switch": cost(-1.0, 0.001)})])
    assert nothing.loss is None and "nothing is distilled" in report(nothing)


def test_hinge_link_and_a_decaying_imitation_phase():
    ta = loss(family="ta-mpo", ref_switch=0.5, alpha0=0.9, alpha_half=0.3, alpha1=0.0)
    ablated = [Ablated("t.json", ta, {
        "alpha": cost(5.0, 0.001), "alpha_schedule": cost(3.0, 0.002),
        "lam_logsigmoid": cost(1.0, 0.5), "lam_exp": cost(4.0, 0.1)})]
    out = distill(ablated)
    assert out.link == "lam_hinge" and out.axes == ("alpha",)
    p = out.loss.params
    assert (p.lam_hinge, p.lam_logsigmoid, p.lam_exp) == (1.0, 0.0, 0.0)
    mean = (0.9 + 2 * 0.3 + 0.0) / 4
    assert out.loss.family == "ta-mpo" and out.schedules == ("alpha_schedule",)
    assert (p.alpha0, p.alpha_half, p.alpha1) == pytest.approx((2 * mean, mean, 0.0))
    assert p.ref_switch == 1.0  # not chosen: full reference


def test_the_distilled_loss_is_dpo_with_a_partial_reference_in_closed_form():
    ablated = [Ablated("a.json", A, {"ref_switch": cost(6.0, 0.001)})]
    d = distill(ablated, beta=0.2).loss
    g = torch.Generator().manual_seed(0)
    lw, ll, rw, rl = (-300 * torch.rand(16, generator=g) for _ in range(4))
    lens = torch.full((16,), 300.0)
    batch = PreferenceBatch(lw, ll, rw, rl, lens, lens, torch.tensor(0.5))
    z = 0.2 * ((lw - ll) - 0.6 * (rw - rl))
    torch.testing.assert_close(d(batch), -F.logsigmoid(z), rtol=1e-5, atol=1e-5)


def fake_confirmation(tmp_path):
    """A finished confirmation's files with knock-out rows of best.json: real variant files
    (`ablate`), scores made up so that dropping each term costs a known amount."""
    orig = tmp_path / "best.json"
    A.save(orig)
    variants = [v for v in ablate(AblationConfig(loss=str(orig)), tmp_path / "abl") if v.loss]
    files = [str(tmp_path / "abl" / f"{v.label}.json") for v in variants]
    rng = np.random.default_rng(0)
    from mirrorpo.losses.resolve import resolve_loss

    scores = {resolve_loss(str(orig)).label: rng.normal(50, 5, (4, 3))}
    drop = {}
    for v, f in zip(variants, files, strict=True):
        drop[v.term.name] = rng.normal(3, 1)
        scores[resolve_loss(f).label] = scores[resolve_loss(str(orig)).label] - drop[v.term.name]
    draws = []
    for k in range(4):
        (tmp_path / f"draw{k}").mkdir()
        card = {"fingerprint": f"{k + 10:016x}"}
        (tmp_path / f"draw{k}" / "card.json").write_text(json.dumps(card))
        draws.append(str(tmp_path / f"draw{k}"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text(json.dumps(
        {"candidates": [str(orig)], "exploratory": files, "draws": draws}))
    (tmp_path / "c" / "scores.json").write_text(json.dumps(
        {"method": "draw-t", "scores": {k: v.tolist() for k, v in scores.items()}}))
    return orig, variants, drop


def test_read_ablated_pairs_each_variant_with_its_original(tmp_path):
    orig, variants, drop = fake_confirmation(tmp_path)
    got = read_ablated(tmp_path / "c", str(orig))
    assert set(got.costs) == {v.term.name for v in variants} >= {"ref_switch", "margin", "alpha"}
    for term, c in got.costs.items():
        assert c.mean == pytest.approx(drop[term])
    with pytest.raises(ValueError, match="not a candidate"):
        read_ablated(tmp_path / "c", str(tmp_path / "other.json"))


def test_distill_command_writes_the_loss_and_refuses_to_overwrite(tmp_path):
    from click.testing import CliRunner

    from mirrorpo.cli import main
    from mirrorpo.losses.mpo import load_mpo

    orig, _, drop = fake_confirmation(tmp_path)
    out = tmp_path / "distilled.json"
    args = ["distill", "--ablated", f"{tmp_path / 'c'}={orig}", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    loss = load_mpo(out)
    assert set(loss.fitted_on) == {f"{k + 10:016x}" for k in range(4)}  # the draws used
    assert "| ref_switch |" in (tmp_path / "distilled.md").read_text()
    before = out.read_text()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "already exists" in res.output and out.read_text() == before
    res = CliRunner().invoke(main, ["distill", "--ablated", str(tmp_path / "c"), "--out",
                                    str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "CONFIRM_DIR=LOSS_FILE" in res.output
    res = CliRunner().invoke(main, ["distill", "--ablated", f"{tmp_path}={orig}", "--out",
                                    str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "not a finished `mirrorpo confirm` run" in res.output
