"""Confirmation: fresh draws only, paired scores per (draw, seed), verdicts, resume."""

import importlib
import json

import numpy as np
import pytest

from mirrorpo.api import DataConfig, make_dataset
from mirrorpo.config import ConfigError
from mirrorpo.confirm import ConfirmConfig, confirm, round_verdicts
from mirrorpo.losses.mpo import MPOLoss, dpo_point
from mirrorpo.tuning import TuningConfig, tune

bench_mod = importlib.import_module("mirrorpo.benchmark")


def draw(tmp_path, seed):
    path = tmp_path / f"draw{seed}"
    return str(path), make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5,
                                              seed=seed), path)


@pytest.fixture
def setup(tiny_assets, tmp_path):
    pool = [draw(tmp_path, s) for s in (0, 1)]
    fresh = [draw(tmp_path, s)[0] for s in (100, 101)]
    tune(TuningConfig(losses=("dpo",), data=tuple(p for p, _ in pool), val_seeds=1, episodes=2,
                      grid_points=3, learning_rates=(1e-3,), snapshot_steps=(2, 3),
                      batch_pairs=4), tmp_path / "tune")
    found = tmp_path / "search" / "best.json"
    found.parent.mkdir()
    MPOLoss("mpo", dpo_point(0.3), fitted_on=(pool[0][1].fingerprint,)).save(found)
    config = ConfirmConfig(target="hopper noisy-20", candidates=(str(found),),
                           tuned=str(tmp_path / "tune" / "tuned.json"), draws=tuple(fresh),
                           seeds=3, episodes=2, candidate_steps=3, batch_pairs=4)
    return config, pool, tmp_path


def test_confirm_scores_pairs_and_judges(setup, monkeypatch):
    config, _, tmp_path = setup
    verdicts = confirm(config, tmp_path / "confirm")
    (v,) = verdicts
    assert v.candidate == "mpo:best" and list(v.differences) == ["dpo (tuned)"]
    assert v.verdict in ("win", "no win", "loss")
    d = v.differences["dpo (tuned)"]
    assert (d.draws, d.seeds, d.method) == (2, 3, "draw-t")
    saved = json.loads((tmp_path / "confirm" / "scores.json").read_text())
    cand = np.array(saved["scores"]["mpo:best"])
    base = np.array(saved["scores"]["dpo (tuned)"])
    assert cand.shape == base.shape == (2, 3)
    assert d.mean == pytest.approx(float((cand - base).mean()))
    assert "dpo[β=0.3,r=1] of mpo:best" in saved["scores"]  # a control
    md = (tmp_path / "confirm" / "verdicts.md").read_text()
    assert "Is it just β?" in md and "tuning runs" in md

    monkeypatch.setattr(bench_mod, "train_and_score",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = confirm(config, tmp_path / "confirm")  # resumes: every unit is on disk
    assert again[0].differences["dpo (tuned)"] == d
    assert round_verdicts([tmp_path / "confirm"])[0].differences["dpo (tuned)"] == d
    wider = round_verdicts([tmp_path / "confirm"], family_size=36)[0].differences["dpo (tuned)"]
    assert wider.level == pytest.approx(1 - 0.05 / 36) and wider.mean == d.mean
    assert wider.ci[0] < d.ci[0] and wider.ci[1] > d.ci[1]

    from click.testing import CliRunner

    from mirrorpo.cli import main

    res = CliRunner().invoke(main, ["verdicts", str(tmp_path / "confirm"), "--family-size", "36",
                                    "--matrix", str(tmp_path / "matrix.md"),
                                    "--plot", str(tmp_path / "forest.png"),
                                    "--matrix-plot", str(tmp_path / "matrix.png")])
    assert res.exit_code == 0 and "1 primary comparisons of a family of 36" in res.output
    assert "| mpo:best (hopper noisy-20) | " in (tmp_path / "matrix.md").read_text()
    assert (tmp_path / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    row = next(line for line in res.output.splitlines() if line.startswith("| hopper"))
    runs = json.loads((tmp_path / "tune" / "tuned.json").read_text())["choices"]["dpo"]["runs"]
    assert f"| mpo:best | — | dpo (tuned) | {runs} |" in row  # no search state beside best
    res = CliRunner().invoke(main, ["verdicts", str(tmp_path / "confirm"), "--family-size", "0"])
    assert res.exit_code != 0 and "--family-size" in res.output


def test_confirm_refuses_draws_that_are_not_fresh(setup):
    from dataclasses import replace

    config, pool, tmp_path = setup
    with pytest.raises(ConfigError, match="best.json was fitted on it"):
        confirm(replace(config, draws=(pool[0][0], config.draws[0])), tmp_path / "c1")
    with pytest.raises(ConfigError, match="baselines were tuned on it"):
        confirm(replace(config, draws=(pool[1][0], config.draws[0])), tmp_path / "c2")
    assert not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()
    with pytest.raises(ConfigError, match="at least 2 fresh draws"):
        replace(config, draws=config.draws[:1])


def test_exploratory_rows_added_later_score_as_if_present_from_the_start(setup, monkeypatch):
    """Only the missing rows train when exploratory rows join a finished run, and they get
    the scores a run with every row from the start gives (members are batch-independent)."""
    from dataclasses import replace

    config, pool, tmp_path = setup
    mean = tmp_path / "search" / "mean.json"
    MPOLoss("mpo", dpo_point(0.05), fitted_on=(pool[1][1].fingerprint,)).save(mean)
    confirm(config, tmp_path / "later")
    before = json.loads((tmp_path / "later" / "scores.json").read_text())["scores"]
    trained = []
    real = bench_mod.train_and_score

    def spy(arrays, reference, specs, labels, *a, **k):
        trained.append(sorted(set(labels)))
        return real(arrays, reference, specs, labels, *a, **k)

    monkeypatch.setattr(bench_mod, "train_and_score", spy)
    wider = replace(config, exploratory=(str(mean), "ipo"))
    confirm(wider, tmp_path / "later")
    assert sorted(trained) == [["ipo", "mpo:mean"]] * 2  # candidate lr/steps, one per draw
    later = json.loads((tmp_path / "later" / "scores.json").read_text())
    assert later["exploratory"] == ["mpo:mean", "ipo"] and later["candidates"] == ["mpo:best"]
    assert all(later["scores"][k] == v for k, v in before.items())
    monkeypatch.setattr(bench_mod, "train_and_score", real)
    confirm(wider, tmp_path / "at-once")
    at_once = json.loads((tmp_path / "at-once" / "scores.json").read_text())["scores"]
    assert at_once == later["scores"]
    md = (tmp_path / "later" / "verdicts.md").read_text()
    assert "Exploratory rows (uncorrected)" in md and "| mpo:mean | dpo (tuned) |" in md
    assert round_verdicts([tmp_path / "later"])[0].candidate == "mpo:best"  # not primary
    with pytest.raises(FileExistsError, match="seeds"):  # other primary settings: refused
        confirm(replace(wider, seeds=2), tmp_path / "later")
    with pytest.raises(ConfigError, match="mean.json was fitted on it"):
        confirm(replace(wider, draws=(pool[1][0], config.draws[0])), tmp_path / "stale")


def _fake_run(path, target, shifts, rng, noise=0.1):
    """A confirmation's scores.json: tuned DPO and IPO, candidates at DPO + shift + noise."""
    path.mkdir(parents=True)
    dpo = rng.normal(50, 5, (10, 3))
    scores = {"dpo (tuned)": dpo.tolist(), "ipo (tuned)": (dpo - 1).tolist()}
    for c, shift in shifts.items():
        scores[c] = (dpo + shift + rng.normal(0, noise, dpo.shape)).tolist()
    path.joinpath("scores.json").write_text(json.dumps(
        {"target": target, "method": "draw-t", "candidates": list(shifts),
         "baselines": ["dpo (tuned)", "ipo (tuned)"], "scores": scores}))
    return path


def test_ablation_choice_takes_winners_else_each_env_s_best_candidate(tmp_path):
    from mirrorpo.confirm import ablation_choice

    rng = np.random.default_rng(0)
    a = _fake_run(tmp_path / "a", "hopper mixed", {"mpo:best": -0.3, "ta-mpo:best": 5.0}, rng)
    b = _fake_run(tmp_path / "b", "hopper noisy-30", {"mpo:best": 3.0}, rng)
    c = _fake_run(tmp_path / "c", "walker2d mixed", {"mpo:best": -0.2}, rng)
    d = _fake_run(tmp_path / "d", "walker2d clean", {"mpo:best": -0.1}, rng)
    verdicts = {(v.target, v.candidate): v.verdict for v in round_verdicts([a, b, c, d])}
    assert verdicts[("hopper mixed", "ta-mpo:best")] == "win"
    assert verdicts[("hopper noisy-30", "mpo:best")] == "win"
    assert verdicts[("hopper mixed", "mpo:best")] != "win"
    # Hopper: both winners and nothing else; Walker2d: no winner, so its best mean difference
    assert ablation_choice([a, b, c, d]) == [(a, "ta-mpo:best"), (b, "mpo:best"),
                                             (d, "mpo:best")]
    # nothing wins: each environment's candidate with the largest mean difference from DPO
    e = _fake_run(tmp_path / "e", "hopper mixed", {"mpo:best": 0.3, "ta-mpo:best": 0.0}, rng,
                  noise=3.0)
    f = _fake_run(tmp_path / "f", "walker2d mixed", {"mpo:best": 0.1}, rng, noise=3.0)
    assert all(v.verdict != "win" for v in round_verdicts([e, f], family_size=36))
    raw = json.loads((e / "scores.json").read_text())["scores"]
    gain = {c: np.mean(np.subtract(raw[c], raw["dpo (tuned)"]))
            for c in ("mpo:best", "ta-mpo:best")}
    assert ablation_choice([e, f], family_size=36) == [(e, max(gain, key=gain.get)),
                                                       (f, "mpo:best")]
    with pytest.raises(ValueError, match="no row 'hinge'"):
        ablation_choice([a], baseline="hinge")


def test_best_candidate_is_the_best_winner_else_the_best_of_all(tmp_path):
    from mirrorpo.confirm import best_candidate

    rng = np.random.default_rng(1)
    # a clear winner with a smaller gain beats a larger, noisy gain that does not win
    a = _fake_run(tmp_path / "a", "hopper mixed", {"mpo:best": 4.0, "ta-mpo:best": 9.0}, rng)
    raw = json.loads((a / "scores.json").read_text())["scores"]
    noisy = np.asarray(raw["dpo (tuned)"]) + 12 + rng.normal(0, 40, (10, 3))
    raw["ta-mpo:best"] = noisy.tolist()
    (a / "scores.json").write_text(json.dumps(
        {**json.loads((a / "scores.json").read_text()), "scores": raw}))
    b = _fake_run(tmp_path / "b", "walker2d mixed", {"mpo:best": 2.0}, rng)
    verdicts = {(v.target, v.candidate): v.verdict for v in round_verdicts([a, b])}
    assert verdicts[("hopper mixed", "ta-mpo:best")] != "win"
    assert (noisy - raw["dpo (tuned)"]).mean() > 4.5  # larger than the winner's gain
    assert verdicts[("hopper mixed", "mpo:best")] == "win" == verdicts[("walker2d mixed",
                                                                         "mpo:best")]
    assert best_candidate([a, b]) == (a, "mpo:best")
    # no winner: the largest mean difference against DPO over every target
    e = _fake_run(tmp_path / "e", "hopper mixed", {"mpo:best": -3.0, "ta-mpo:best": -5.0}, rng)
    f = _fake_run(tmp_path / "f", "walker2d mixed", {"mpo:best": -1.0}, rng)
    assert all(v.verdict != "win" for v in round_verdicts([e, f]))
    assert best_candidate([e, f]) == (f, "mpo:best")
    with pytest.raises(ValueError, match="no row 'hinge'"):
        best_candidate([e], baseline="hinge")


def test_candidate_file_maps_a_chosen_label_back_to_its_file(tmp_path):
    from mirrorpo.confirm import candidate_file

    files = [tmp_path / "s" / "best.json", tmp_path / "t" / "mean.json"]
    for f in files:
        f.parent.mkdir()
        MPOLoss("mpo", dpo_point(0.2)).save(f)
    run = tmp_path / "confirm"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"candidates": [str(f) for f in files]}))
    assert candidate_file(run, "mpo:mean") == str(files[1])
    with pytest.raises(ValueError, match="no candidate 'ta-mpo:best'"):
        candidate_file(run, "ta-mpo:best")


def test_transfer_matrix_puts_every_row_on_every_target(tmp_path):
    from mirrorpo.confirm import transfer_matrix

    rng = np.random.default_rng(2)
    a = _fake_run(tmp_path / "a", "hopper mixed", {"mpo:best": 4.0}, rng)
    b = _fake_run(tmp_path / "b", "walker2d mixed", {"mpo:walker": 1.0}, rng)
    for run, extra, shift in ((a, "mpo:walker", -2.0), (b, "mpo:hopper-mixed", 3.0)):
        raw = json.loads((run / "scores.json").read_text())
        dpo = np.asarray(raw["scores"]["dpo (tuned)"])
        raw["scores"][extra] = (dpo + shift).tolist()
        raw["exploratory"] = [extra]
        (run / "scores.json").write_text(json.dumps(raw))
    lines = transfer_matrix([a, b]).splitlines()
    assert lines[2] == "| loss | hopper mixed | walker2d mixed |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[4:]}
    best = "mpo:best (hopper mixed)"  # a search's generic file name gets its target
    assert set(rows) == {best, "mpo:walker", "mpo:hopper-mixed"}
    assert rows[best].endswith("|  |") and "+4.0 [" in rows[best]  # own target only
    assert "]*" in rows[best] and "-2.0 [-2.0, -2.0]" in rows["mpo:walker"]
    assert "+3.0 [+3.0, +3.0]" in rows["mpo:hopper-mixed"]


def test_transfer_matrix_joins_a_candidate_and_its_transfer_copies(tmp_path, monkeypatch):
    """One loss file under two labels (a target's mpo:best, another target's transfer row
    copied from it) is one row; two losses that share a label stay apart; the heatmap draws."""
    from mirrorpo.confirm import transfer_cells
    from mirrorpo.plots import transfer_heatmap

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    for name, beta in (("hopper", 0.2), ("walker", 0.5)):
        (tmp_path / name).mkdir()
        MPOLoss("mpo", dpo_point(beta)).save(tmp_path / name / "best.json")
    (tmp_path / "transfer").mkdir()
    for name in ("hopper", "walker"):
        (tmp_path / "transfer" / f"{name}.json").write_text(
            (tmp_path / name / "best.json").read_text())
    a = _fake_run(tmp_path / "a", "hopper mixed", {"mpo:best": 4.0}, rng)
    b = _fake_run(tmp_path / "b", "walker2d mixed", {"mpo:best": 1.0}, rng)
    for run, own, other, shift in ((a, "hopper", "walker", -2.0), (b, "walker", "hopper", 3.0)):
        raw = json.loads((run / "scores.json").read_text())
        raw["scores"][f"mpo:{other}"] = (np.asarray(raw["scores"]["dpo (tuned)"]) + shift).tolist()
        raw["exploratory"] = [f"mpo:{other}"]
        (run / "scores.json").write_text(json.dumps(raw))
        (run / "config.json").write_text(json.dumps(
            {"candidates": [f"{own}/best.json"], "exploratory": [f"transfer/{other}.json"]}))
    losses, targets, cells = transfer_cells([a, b])
    assert losses == ["mpo:hopper", "mpo:walker"]
    assert targets == ["hopper mixed", "walker2d mixed"]
    assert cells[("mpo:hopper", "hopper mixed")].own
    assert cells[("mpo:hopper", "walker2d mixed")].mean == pytest.approx(3.0)
    assert not cells[("mpo:hopper", "walker2d mixed")].own
    assert cells[("mpo:walker", "walker2d mixed")].own
    assert cells[("mpo:walker", "hopper mixed")].mean == pytest.approx(-2.0)
    transfer_heatmap(losses, targets, cells, "transfer", tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    (b / "config.json").write_text(json.dumps({"candidates": ["walker/best.json"]}))
    (a / "config.json").unlink()  # labels only: the two mpo:best are different losses
    losses, _, cells = transfer_cells([a, b])
    assert {"mpo:best (hopper mixed)", "mpo:best (walker2d mixed)"} <= set(losses)


def test_candidates_train_at_the_schedule_validation_chose_for_them(tiny_assets, tmp_path):
    pool = [draw(tmp_path, s) for s in (0, 1)]
    fresh = tuple(draw(tmp_path, s)[0] for s in (100, 101))
    found = tmp_path / "search" / "best.json"
    found.parent.mkdir()
    MPOLoss("mpo", dpo_point(0.3), fitted_on=(pool[0][1].fingerprint,)).save(found)
    tuning = TuningConfig(losses=("dpo",), data=tuple(p for p, _ in pool), val_seeds=1,
                          episodes=2, grid_points=3, learning_rates=(1e-3, 3e-3),
                          snapshot_steps=(2, 3), batch_pairs=4, candidates=(str(found),))
    choices = tune(tuning, tmp_path / "tune")
    saved = json.loads((tmp_path / "tune" / "tuned.json").read_text())
    chosen = saved["candidates"]["mpo:best"]
    assert list(saved["choices"]) == ["dpo"]  # a candidate is never a baseline row
    assert saved["candidate_runs"] == chosen["runs"] == 2 * 1 * 2  # lrs × seeds × draws
    assert choices["mpo:best"].spec == str(found)
    assert (chosen["learning_rate"], chosen["steps"]) in {(lr, t) for lr in (1e-3, 3e-3)
                                                          for t in (2, 3)}
    config = ConfirmConfig(target="hopper noisy-20", candidates=(str(found),),
                           tuned=str(tmp_path / "tune" / "tuned.json"), draws=fresh, seeds=2,
                           episodes=2, candidate_steps=7, candidate_learning_rate=0.5,
                           batch_pairs=4, candidate_schedule="tuned")
    from mirrorpo.confirm import plan_rows

    rows = {r.loss.label: (r.learning_rate, r.steps, r.role) for r in plan_rows(config, saved)}
    schedule = (chosen["learning_rate"], chosen["steps"])
    assert rows["mpo:best"] == (*schedule, "candidate")
    assert rows["dpo[β=0.3,r=1] of mpo:best"] == (*schedule, "control")  # trained alike
    confirm(config, tmp_path / "confirm")
    md = (tmp_path / "confirm" / "verdicts.md").read_text()
    assert f"candidates' schedules: {chosen['runs']} tuning runs" in md
    recorded = json.loads((tmp_path / "confirm" / "config.json").read_text())
    assert recorded["candidate_schedule"] == "tuned"

    from dataclasses import replace

    del saved["candidates"]
    with pytest.raises(ConfigError, match="no schedule for mpo:best"):
        plan_rows(config, saved)
    fixed = plan_rows(replace(config, candidate_schedule="fixed"), saved)
    assert {(r.learning_rate, r.steps) for r in fixed if r.role == "candidate"} == {(0.5, 7)}
    assert "candidate_schedule" not in replace(config, candidate_schedule="fixed").to_json()
