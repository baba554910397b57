"""Baseline tuning: grids, edge extension, budget accounting and resume (tiny assets)."""

import contextlib
import json

import pytest

from mirrorpo.api import DataConfig, make_dataset
from mirrorpo.config import ConfigError
from mirrorpo.tuning import (
    TuningConfig,
    bounded_grid,
    extend,
    grid_specs,
    hparam_grid,
    log_grid,
    tune,
)


def test_grids():
    assert log_grid(0.1, 7, 3.0) == [0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16]
    assert bounded_grid(0.0, 0.5, 3) == [0.125, 0.25, 0.375]
    cfg = TuningConfig(losses=("cdpo",), data=("x",), grid_points=3)
    assert hparam_grid("cdpo", "label_smoothing", cfg) == [0.125, 0.25, 0.375]
    assert hparam_grid("cdpo", "beta", cfg) == log_grid(0.1, 3, 3.0)
    assert grid_specs("cdpo", {"label_smoothing": [0.1, 0.2], "beta": [1.0]}) == [
        "cdpo:label_smoothing=0.1,beta=1", "cdpo:label_smoothing=0.2,beta=1"]
    assert extend([0.1, 1.0, 10.0], 10.0) == [0.1, 1.0, 10.0, 100.0]
    assert extend([0.1, 1.0, 10.0], 0.1) == [0.01, 0.1, 1.0, 10.0]
    assert extend([0.1, 1.0, 10.0], 1.0) is None


def test_config_checks():
    with pytest.raises(ConfigError, match="sft"):
        TuningConfig(losses=("sft",), data=("x",))
    with pytest.raises(ConfigError, match="meta-train draw"):
        TuningConfig(losses=("dpo",), data=())
    with pytest.raises(ConfigError, match="candidates: 'nope.json' is not a loss file"):
        TuningConfig(losses=("dpo",), data=("x",), candidates=("nope.json",))


def test_tune_counts_runs_and_resumes(tiny_assets, tmp_path, monkeypatch):
    draws = []
    for seed in (1, 2):
        make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5, seed=seed),
                     tmp_path / f"draw{seed}")
        draws.append(str(tmp_path / f"draw{seed}"))
    cfg = TuningConfig(losses=("dpo",), data=tuple(draws), val_seeds=1, episodes=2,
                       grid_points=3, learning_rates=(1e-3, 3e-3), snapshot_steps=(2, 4),
                       batch_pairs=4)
    labels = []

    @contextlib.contextmanager
    def record(label, total):
        labels.append(label)
        yield lambda n=1: None

    choices = tune(cfg, tmp_path / "tune", progress=record)
    c = choices["dpo"]
    # "tune runs DONE/PLANNED: dpo lr=… draw d, N members": the tally reaches the plan
    done = [int(lab.split()[2].split("/")[0]) for lab in labels]
    planned = int(labels[-1].split()[2].split("/")[1].rstrip(":"))
    members = [int(lab.split(", ")[1].split()[0]) for lab in labels]
    assert done == [sum(members[:i]) for i in range(len(labels))]
    assert done[-1] + members[-1] == planned
    assert c.spec.startswith("dpo:beta=") and c.learning_rate in (1e-3, 3e-3)
    assert c.steps in (2, 4)
    tried = c.runs // (2 * 1 * 2)  # learning rates × seeds × draws
    assert 3 <= tried <= 3 + 3  # the grid, plus at most one point per extension
    saved = json.loads((tmp_path / "tune" / "tuned.json").read_text())
    assert saved["runs"] == c.runs == planned and saved["choices"]["dpo"]["spec"] == c.spec

    import importlib

    bench_mod = importlib.import_module("mirrorpo.benchmark")

    def forbid(*args, **kwargs):
        raise AssertionError("retrained a finished unit")

    monkeypatch.setattr(bench_mod, "train_and_score", forbid)
    assert tune(cfg, tmp_path / "tune") == choices
    from dataclasses import replace

    with pytest.raises(FileExistsError, match="val_seeds: 1 \\(saved\\) vs 2"):
        tune(replace(cfg, val_seeds=2), tmp_path / "tune")

    # a draw remade with other contents at the same path: its units would mix the two
    make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5, seed=3), tmp_path / "draw2",
                 force=True)
    with pytest.raises(FileExistsError, match="other contents of .*draw2"):
        tune(cfg, tmp_path / "tune")


def test_beta_controls_are_dpo_and_hinge_at_the_found_beta(tmp_path):
    import torch

    from mirrorpo.losses import PreferenceBatch, get_loss
    from mirrorpo.losses.mpo import MPOLoss, MPOParams
    from mirrorpo.tuning import beta_controls

    path = tmp_path / "found.json"
    MPOLoss("mpo", MPOParams(beta=0.5, lam_sigmoid=0.3, anchor_sigmoid=0.2, alpha0=0.1)).save(
        path)
    g = torch.Generator().manual_seed(0)
    logps = [torch.randn(16, generator=g, dtype=torch.float64) * 5 - 20 for _ in range(4)]
    ones = torch.full((16,), 10.0, dtype=torch.float64)
    batch = PreferenceBatch(*logps, ones, ones, torch.tensor(0.3, dtype=torch.float64))
    dpo, hinge = beta_controls(path).values()
    torch.testing.assert_close(dpo(batch), get_loss("dpo")(batch, beta=0.5))
    torch.testing.assert_close(hinge(batch), get_loss("hinge")(batch, beta=0.5))
    assert list(beta_controls(path)) == ["dpo[β=0.5,r=1]", "hinge[β=0.5,r=1]"]


def test_search_runs_counts_members_per_generation():
    from mirrorpo.tuning import search_runs

    state = {"generations_done": 23, "config": {"popsize": 16, "fitness": {
        "data": ["a"], "fitness_seeds": 3}}}
    assert search_runs(state) == 23 * 16 * 3
    state["config"]["fitness"] = {"data": ["a", "b", "c"], "fitness_seeds": 2}
    assert search_runs(state) == 23 * 16 * 2 * 3
    state["config"]["fitness"]["pool"] = True
    assert search_runs(state) == 23 * 16 * 2
