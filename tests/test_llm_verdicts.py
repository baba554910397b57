"""`mirrorpo llm verdicts`: Holm-corrected head-to-head verdicts of a test bench, on bench
directories written in the bench's file layout with rewards whose verdicts are known."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mirrorpo.cli import main
from mirrorpo.llm.metrics import paired_win_p_value, paired_win_rate
from mirrorpo.llm.verdicts import llm_verdicts, verdicts_markdown

SEEDS, PROMPTS = (100, 101, 102, 103, 104), 40


def write_bench(root, losses: dict[str, np.ndarray], reference: np.ndarray) -> None:
    """A bench directory: per loss label an (S, P) array of judged rewards."""
    for label, rewards in losses.items():
        for seed, row in zip(SEEDS, rewards, strict=True):
            udir = root / "units" / "mixed" / label.replace(":", "-") / f"seed-{seed}"
            udir.mkdir(parents=True)
            (udir / "config.json").write_text(json.dumps({"loss_label": label, "seed": seed}))
            (udir / "eval.json").write_text(json.dumps({
                "rewards": row.tolist(), "reward_mean": float(row.mean()),
                "kl_to_reference": 0.1 * seed, "length_mean": 30.0}))
    (root / "reference").mkdir()
    for seed, row in zip(SEEDS, reference, strict=True):
        (root / "reference" / f"seed-{seed}.json").write_text(
            json.dumps({"rewards": row.tolist()}))


@pytest.fixture
def bench(tmp_path):
    rng = np.random.default_rng(0)
    dpo = rng.normal(size=(len(SEEDS), PROMPTS))
    write_bench(tmp_path / "test", {
        "dpo:beta=0.1": dpo,
        "better:beta=1": dpo + 0.5,          # beats DPO on every prompt and seed
        "same:beta=1": dpo.copy(),           # ties everywhere: win rate exactly 1/2
        "worse:beta=1": dpo - 0.5,
    }, dpo - 1.0)
    return tmp_path / "test"


def test_holm_orders_by_p_and_judges_by_the_corrected_interval(bench):
    rec = llm_verdicts(bench, "mixed", ["same:beta=1", "better:beta=1", "worse:beta=1"],
                       "dpo:beta=0.1")
    by = {p["a"]: p for p in rec["primary"]}
    assert by["better:beta=1"]["win_rate"] == 1.0 and by["better:beta=1"]["verdict"] == "win"
    assert by["worse:beta=1"]["win_rate"] == 0.0 and by["worse:beta=1"]["verdict"] == "loss"
    assert by["same:beta=1"]["win_rate"] == 0.5 and by["same:beta=1"]["verdict"] == "no win"
    assert by["same:beta=1"]["p_value"] == 1.0 and not by["same:beta=1"]["rejected"]
    # the two rejected comparisons take levels 1 − α/3 and 1 − α/2, the last one 1 − α
    assert sorted(p["level"] for p in rec["primary"]) == pytest.approx([0.95, 0.975, 1 - 0.05 / 3])
    assert by["same:beta=1"]["level"] == pytest.approx(0.95)
    rows = {r["loss"]: r for r in rec["losses"]}
    assert rows["dpo:beta=0.1"]["vs_baseline"] is None
    assert rows["dpo:beta=0.1"]["vs_reference"]["win_rate"] == 1.0
    assert rows["worse:beta=1"]["vs_reference"]["win_rate"] == 1.0
    assert rec["pairs"]["better:beta=1"]["worse:beta=1"]["win_rate"] == 1.0
    assert rows["better:beta=1"]["kl"]["mean"] == pytest.approx(0.1 * np.mean(SEEDS))


def test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(1)
    for shift in (0.0, 0.1, 0.3):
        a = rng.normal(size=(5, 60)) + shift
        b = rng.normal(size=(5, 60))
        p = paired_win_p_value(a, b)
        _, low, high = paired_win_rate(a, b, level=0.95)
        assert (p < 0.05) == (low > 0.5 or high < 0.5)


def test_cli_maps_tuned_losses_writes_files_and_guards_other_verdicts(bench, tmp_path):
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"losses": {
        "dpo": {"spec": "dpo:beta=0.1", "label": "dpo:beta=0.1"},
        "runs/x/better.json": {"spec": "runs/x/better.json:beta=1", "label": "better:beta=1"}}}))
    out = tmp_path / "verdicts"
    args = ["llm", "verdicts", "--bench", str(bench), "--tuned", str(tuned), "--candidate",
            "runs/x/better.json", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "| better:beta=1 | 1.000" in res.output and "win |" in res.output
    assert {p.name for p in out.iterdir()} == {"verdicts.json", "verdicts.md", "head_to_head.png"}
    assert CliRunner().invoke(main, args).exit_code == 0  # the same bench: refreshed
    res = CliRunner().invoke(main, [*args[:-1], str(out), "--preset", "clean"])
    assert res.exit_code == 2 and "--out" in res.output and "--force" in res.output
    res = CliRunner().invoke(main, [*args[:6], "--candidate", "nope", "--out", str(out)])
    assert res.exit_code == 2 and "--candidate: 'nope' is not a loss of" in res.output
    res = CliRunner().invoke(main, ["llm", "verdicts", "--bench", str(bench), "--candidate",
                                    "absent", "--out", str(tmp_path / "v2")])
    assert res.exit_code == 2 and "--against" in res.output and "'dpo'" in res.output
    res = CliRunner().invoke(main, ["llm", "verdicts", "--bench", str(bench), "--against",
                                    "dpo:beta=0.1", "--candidate", "absent", "--out",
                                    str(tmp_path / "v2")])
    assert res.exit_code == 2 and "--candidate" in res.output and "'absent'" in res.output
    assert not (tmp_path / "v2").exists()


def test_record_names_the_prompts_the_bench_was_judged_on(bench, tmp_path):
    assert llm_verdicts(bench, "mixed", ["better:beta=1"], "dpo:beta=0.1")["split"] == "test"
    (bench / "config.json").write_text(json.dumps({"eval_split": "validation"}))
    rec = llm_verdicts(bench, "mixed", ["better:beta=1"], "dpo:beta=0.1")
    assert rec["split"] == "validation"
    assert "paired per validation prompt" in verdicts_markdown(rec)
