"""Knock-out ablation: one term dropped per variant, the rest unchanged; loss files every
loss-taking command reads; the confirmation reports them as exploratory."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mirrorpo.ablation import (
    MANIFEST,
    AblationConfig,
    ablate,
    knock_out,
    used_value,
    variants,
)
from mirrorpo.cli import main
from mirrorpo.losses.family import load_loss
from mirrorpo.losses.mpo import (
    KEPT,
    TA_MPO_NAMES,
    TERMS,
    MPOLoss,
    MPOParams,
    dpo_point,
    load_mpo,
    param_names,
)
from mirrorpo.losses.registry import PreferenceBatch
from mirrorpo.losses.resolve import resolve_loss

FP = "0123456789abcdef"
RICH = MPOParams(beta=0.5, length_power=0.5, ref_switch=0.7, w_id=1.0, w_logodds=0.3,
                 w_exp=0.2, log_q=-0.5, w_sp1=0.4, c1=-2.0, w_sp2=0.3, lam_logsigmoid=1.0,
                 lam_exp=0.2, lam_hinge=0.3, lam_sigmoid=0.4, margin=0.2,
                 anchor_logsigmoid=0.1, anchor_sigmoid=0.2, anchor_square=0.05, alpha0=0.1,
                 alpha_half=0.5, alpha1=0.2, rho0=0.5, rho_half=1.0, rho1=1.5)
"""A TA-MPO loss with every term on (none at its neutral value)."""


def batch(chosen, rejected, ref_chosen, ref_rejected, lengths=(3.0, 7.0), progress=0.3):
    t = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    return PreferenceBatch(t(chosen), t(rejected), t(ref_chosen), t(ref_rejected),
                           t(lengths), t(lengths[::-1]), t(progress))


GENERIC = batch([-2.0, -4.5], [-3.0, -1.5], [-2.5, -3.0], [-2.0, -2.5])
WIDE = batch([-0.5, -1.0], [-1000.0, -800.0], [-3.0, -2.0], [-2.0, -4.0])  # z ≫ 0
NARROW = batch([-1000.0, -800.0], [-0.5, -1.0], [-3.0, -2.0], [-2.0, -4.0])  # z ≪ 0
SAME = batch([-2.0, -4.5], [-3.0, -1.5], [-2.0, -4.5], [-3.0, -1.5])  # ℓ = ℓ_ref
APART = batch([-0.5, -1.0], [-1000.0, -800.0], [-1000.0, -900.0], [-0.5, -2.0])  # βΔ_w ≫ 0 ≫ βΔ_l
IDENTITY_F = dict(w_logodds=0.0, w_exp=0.0, w_sp1=0.0, w_sp2=0.0)

CASES = {
    # term: (parameters with the term on, a batch on which its contribution is zero)
    "length_power": (RICH, batch(*GENERIC[:4], lengths=(1.0, 1.0))),  # |y|^s = 1
    "ref_switch": (replace(RICH, **IDENTITY_F), batch([-2.0, -4.5], [-3.0, -1.5], [0.0, 0.0],
                                                      [0.0, 0.0])),  # f(u_ref) = f(0) = 0
    **{w: (replace(RICH, ref_switch=1.0), SAME)  # Δ = f(u) − f(u_ref) = 0 for any f
       for w in ("w_id", "w_logodds", "w_exp", "w_sp1", "w_sp2")},
    "lam_logsigmoid": (RICH, WIDE),  # log σ(z − m) ≈ 0
    "lam_exp": (RICH, WIDE),  # e^(−(z − m)) ≈ 0
    "lam_hinge": (RICH, WIDE),  # max(0, 1 − (z − m)) = 0
    "lam_sigmoid": (RICH, NARROW),  # σ(z − m) ≈ 0
    "margin": (replace(RICH, lam_logsigmoid=0.0, lam_exp=0.0, lam_sigmoid=0.0, lam_hinge=1.0),
               WIDE),  # hinge flat (0) around z and z − m
    "anchor_logsigmoid": (RICH, APART),  # −log σ(x) ≈ 0 at x = βΔ_w, −βΔ_l ≫ 0
    "anchor_sigmoid": (RICH, APART),  # 1 − σ(x) ≈ 0
    "anchor_square": (replace(dpo_point(0.5), anchor_square=1.0),  # x = ½ exactly
                      batch([-1.0, -2.0], [-3.0, -4.0], [-2.0, -3.0], [-2.0, -3.0])),
    "alpha": (RICH, batch([0.0, 0.0], *GENERIC[1:4])),  # −u_w = 0
    "alpha_schedule": (RICH, batch(*GENERIC[:4], progress=0.28125)),  # α(τ) = its mean 0.325
    "rho_schedule": (RICH, batch(*GENERIC[:4], progress=0.5)),  # ρ(½) = its mean 1
}


def test_terms_cover_every_coordinate_once_with_kept():
    in_terms = {c for t in TERMS for c in t.coords}
    assert in_terms | set(KEPT) == set(TA_MPO_NAMES)
    assert not in_terms & set(KEPT)
    assert len({t.name for t in TERMS}) == len(TERMS)


@pytest.mark.parametrize("family", ["mpo", "ta-mpo"])
def test_each_variant_changes_one_term_only(family):
    loss = MPOLoss(family, RICH, fitted_on=(FP,))
    found = variants(loss)
    assert [v.term.name for v in found] == [t.name for t in TERMS if family in t.families]
    names = param_names(family)
    for v in found:
        assert v.loss is not None, v.label  # every term of RICH is on
        changed = {n for n, a, b in zip(names, loss.vector, v.loss.vector, strict=True)
                   if a != b}
        assert changed and changed <= set(v.term.coords), v.label
        assert set(v.changes) == changed
        assert v.loss.params.beta == loss.params.beta
        assert v.loss.fitted_on == (FP,)
        assert knock_out(v.loss, v.term).loss is None  # the dropped term is now neutral
        for other in TERMS:  # every term not sharing its coordinates is still on
            if family in other.families and not set(other.coords) & set(v.term.coords):
                assert knock_out(v.loss, other).loss is not None, (v.label, other.name)


@pytest.mark.parametrize("name", [t.name for t in TERMS])
def test_variant_equals_original_where_the_term_contributes_nothing(name):
    term = next(t for t in TERMS if t.name == name)
    params, zero = CASES[name]
    loss = MPOLoss("ta-mpo", params)
    variant = knock_out(loss, term).loss
    assert variant is not None
    torch.testing.assert_close(variant(zero), loss(zero), rtol=1e-9, atol=1e-9)
    assert not torch.allclose(variant(GENERIC), loss(GENERIC), rtol=1e-6, atol=1e-9)


def test_schedules_become_constant_at_their_mean():
    loss = MPOLoss("ta-mpo", replace(RICH, alpha_half=-3.0))  # a negative knot is used as 0
    alpha = knock_out(loss, next(t for t in TERMS if t.name == "alpha_schedule")).loss.params
    assert alpha.alpha0 == alpha.alpha_half == alpha.alpha1 == pytest.approx((0.1 + 0 + 0.2) / 4)
    rho = knock_out(loss, next(t for t in TERMS if t.name == "rho_schedule")).loss.params
    assert rho.rho0 == rho.rho_half == rho.rho1 == pytest.approx(1.0)


def test_neutral_terms_are_skipped():
    odd = replace(dpo_point(0.2), lam_exp=-0.3, ref_switch=1.5, length_power=-1.0)
    found = {v.term.name: v for v in variants(MPOLoss("mpo", odd))}
    assert {n for n, v in found.items() if v.loss is not None} == {"w_id", "lam_logsigmoid"}
    assert used_value("lam_exp", -0.3) == 0.0 and used_value("ref_switch", 1.5) == 1.0


def test_ablate_writes_loss_files_every_command_reads(tmp_path):
    src = tmp_path / "best.json"
    MPOLoss("ta-mpo", RICH, fitted_on=(FP,)).save(src)
    found = ablate(AblationConfig(loss=str(src)), tmp_path / "abl")
    files = sorted(p.name for p in (tmp_path / "abl").iterdir())
    assert files == sorted([f"{v.label}.json" for v in found] + [MANIFEST])
    for v in found:
        path = tmp_path / "abl" / f"{v.label}.json"
        raw = json.loads(path.read_text())
        assert (raw["ablation_of"], raw["dropped"]) == (str(src), v.term.name)
        assert load_mpo(path) == v.loss and load_mpo(path).fitted_on == (FP,)
        assert load_loss(path) == v.loss
        assert resolve_loss(str(path)).label == f"ta-mpo:{v.label}"
    manifest = json.loads((tmp_path / "abl" / MANIFEST).read_text())
    assert [m["term"] for m in manifest["variants"]] == [v.term.name for v in found]
    assert manifest["fitted_on"] == [FP] and manifest["skipped"] == []


def test_ablate_skips_and_lists_neutral_terms(tmp_path):
    src = tmp_path / "dpo.json"
    MPOLoss("mpo", dpo_point(0.1)).save(src)
    res = CliRunner().invoke(main, ["ablate", "--loss", str(src), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "a" / MANIFEST).read_text())
    assert [m["label"] for m in manifest["variants"]] == ["drop-w_id", "drop-lam_logsigmoid"]
    assert len(manifest["skipped"]) == sum("mpo" in t.families for t in TERMS) - 2
    assert "drop-w_exp: skipped" in res.output


@pytest.mark.parametrize("content", [None, "{not json", '{"family": "nope"}',
                                     '{"family": "mpo", "version": 2, "vector": [1]}'])
def test_bad_loss_file_is_one_line_naming_loss(tmp_path, content):
    src = tmp_path / "x.json"
    if content is not None:
        src.write_text(content)
    res = CliRunner().invoke(main, ["ablate", "--loss", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1
    assert "--loss" in res.output and "x.json" in res.output
    assert not (tmp_path / "o").exists()


def test_existing_out_refused_unless_force(tmp_path):
    src = tmp_path / "best.json"
    MPOLoss("mpo", replace(dpo_point(0.1), lam_hinge=0.5)).save(src)
    out = tmp_path / "abl"
    args = ["ablate", "--loss", str(src), "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    MPOLoss("mpo", replace(dpo_point(0.3), lam_exp=0.5)).save(src)  # another original
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "--force" in res.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing overwritten
    res = CliRunner().invoke(main, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "drop-lam_exp.json").exists() and not (out / "drop-lam_hinge.json").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = CliRunner().invoke(main, ["ablate", "--loss", str(src), "--out", str(other),
                                    "--force"])
    assert res.exit_code == 2 and (other / "keep.txt").read_text() == "mine"


# ----------------------------------------------------------------------------- confirmation


@pytest.fixture
def confirm_setup(tiny_assets, tmp_path):
    from mirrorpo.api import DataConfig, make_dataset
    from mirrorpo.tuning import TuningConfig, tune

    def draw(seed):
        path = tmp_path / f"draw{seed}"
        return str(path), make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5,
                                                  seed=seed), path)

    pool = [draw(0)]
    fresh = [draw(s)[0] for s in (100, 101)]
    tune(TuningConfig(losses=("dpo",), data=(pool[0][0],), val_seeds=1, episodes=2,
                      grid_points=3, learning_rates=(1e-3,), snapshot_steps=(2,),
                      batch_pairs=4), tmp_path / "tune")
    best = tmp_path / "search" / "best.json"
    best.parent.mkdir()
    MPOLoss("mpo", replace(dpo_point(0.3), lam_hinge=0.5),
            fitted_on=(pool[0][1].fingerprint,)).save(best)
    ablate(AblationConfig(loss=str(best)), tmp_path / "abl")
    return best, pool, fresh, tmp_path


def test_confirm_takes_variants_as_exploratory_rows(confirm_setup):
    best, pool, fresh, tmp_path = confirm_setup
    drops = sorted(str(p) for p in (tmp_path / "abl").glob("drop-*.json"))
    assert len(drops) == 3  # w_id, lam_logsigmoid, lam_hinge
    common = ["--tuned", str(tmp_path / "tune" / "tuned.json"), "--seeds", "2", "--episodes",
              "2", "--candidate-steps", "2", "--batch-pairs", "4", "--no-controls"]
    out = tmp_path / "confirm"
    res = CliRunner().invoke(main, ["confirm", "--target", "t", "--candidates", str(best),
                                    *drops, "--draws", ",".join(fresh), *common,
                                    "--out", str(out)])  # as a shell glob expands
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "scores.json").read_text())
    labels = [f"mpo:drop-{t}" for t in ("lam_hinge", "lam_logsigmoid", "w_id")]
    assert saved["candidates"] == ["mpo:best"] and sorted(saved["ablations"]) == labels
    assert [v["candidate"] for v in json.loads((out / "verdicts.json").read_text())] \
        == ["mpo:best"]
    md = (out / "verdicts.md").read_text()
    assert "Knock-out variants (exploratory, uncorrected)" in md
    for label in labels:
        assert f"| {label} | mpo:best |" in md and f"| {label} | dpo (tuned) |" in md
    assert np.array(saved["scores"][labels[0]]).shape == (2, 2)

    res = CliRunner().invoke(main, ["confirm", "--target", "t", "--candidates", drops[0],
                                    "--draws", f"{pool[0][0]},{fresh[0]}", *common,
                                    "--out", str(tmp_path / "c2")])
    assert res.exit_code == 2 and "was fitted on it" in res.output  # the original's draws
