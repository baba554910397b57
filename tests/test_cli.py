"""Command line: help on every command, a tiny end-to-end run, one-line errors."""

import json
import os
import subprocess
import sys

import click
import pytest
import torch
from click.testing import CliRunner

from mirrorpo.cli import main


def all_commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [(), *all_commands(main)], ids=lambda p: " ".join(p) or "root")
def test_help(path):
    res = CliRunner().invoke(main, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output


@pytest.mark.e2e
def test_end_to_end_tiny(tiny_assets, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ds"
    res = runner.invoke(main, ["data", "make", "--preset", "noisy-20", "--pairs", "12",
                               "--horizon", "5", "--seed", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "label agreement" in res.output
    res = runner.invoke(main, ["data", "show", str(out), "--json"])
    assert res.exit_code == 0
    card = json.loads(res.output)
    assert card["num_pairs"] == 12 and card["horizon"] == 5 and card["preset"] == "noisy-20/v1"
    res = runner.invoke(main, ["data", "table", str(out), str(out)])
    assert res.exit_code == 0
    assert res.output.count("| noisy-20/v1 | 12 | 5 |") == 2
    res = runner.invoke(main, ["eval", "ladder", "--episodes", "2",
                               "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    scores = json.loads((tmp_path / "e.json").read_text())["policies"]
    assert len(scores) == 5
    assert all(s["score_sampled_ci95"][0] <= s["score_sampled_ci95"][1] for s in scores.values())
    # a second make into the same directory is refused and leaves it intact
    before = (out / "pairs.npz").read_bytes()
    res = runner.invoke(main, ["data", "make", "--pairs", "12", "--horizon", "5",
                               "--out", str(out)])
    assert res.exit_code == 2
    assert "already holds a dataset" in res.output
    assert (out / "pairs.npz").read_bytes() == before


def test_data_make_custom_teacher(tiny_assets, tmp_path):
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["data", "make", "--preset", "clean", "--mistake-rate", "0.15",
                                    "--temperature", "0.05", "--skip-threshold", "-1",
                                    "--pairs", "12", "--horizon", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "clean/v1+custom" in res.output and "overrides of the preset" in res.output
    card = json.loads((out / "card.json").read_text())
    assert card["preset"] == "clean/v1+custom"
    assert card["overrides"] == {"temperature": 0.05, "mistake_rate": 0.15,
                                 "skip_threshold": -1.0}
    assert card["teacher"] == {"temperature": 0.05, "mistake_rate": 0.15, "myopic_discount": 1.0,
                               "equal_threshold": 0.0, "skip_threshold": -1.0}
    res = CliRunner().invoke(main, ["data", "make", "--mistake-rate", "0.7",
                                    "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "0<=x<=0.5" in res.output


def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "mirrorpo.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_truncated_dataset_gives_one_line_error(tiny_assets, tmp_path):
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["data", "make", "--pairs", "8", "--horizon", "4",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = (out / "pairs.npz").read_bytes()
    (out / "pairs.npz").write_bytes(data[:1000])
    proc = run_cli("data", "show", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pairs.npz" in lines[0] and "truncated" in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["eval", "ladder:9"], "level must be in"),
        (["eval", "nope.safetensors"], "nope.safetensors"),
        (["data", "make", "--preset", "dirty", "--out", "x"], "--preset"),
        (["data", "make", "--pairs", "0", "--out", "x"], "--pairs"),
        (["data", "show", "does-not-exist"], "no such dataset directory"),
    ],
)
def test_bad_input_exit_code_2(tiny_assets, args, needle):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert needle in res.output


def test_missing_assets_message(tmp_path):
    proc = run_cli("eval", "reference", env_extra={"MIRRORPO_ASSETS": str(tmp_path)})
    assert proc.returncode == 2
    assert "reference.safetensors" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_train_tiny_end_to_end(tiny_assets, tmp_path):
    runner = CliRunner()
    data = tmp_path / "ds"
    res = runner.invoke(main, ["data", "make", "--pairs", "16", "--horizon", "5",
                               "--out", str(data)])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--loss", "dpo:beta=0.2", "--loss", "orpo",
            "--seeds", "2", "--steps", "4", "--batch-pairs", "4", "--episodes", "2",
            "--out", str(run)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads((run / "run.json").read_text())
    assert sorted(out["members"]) == ["dpo:beta=0.2/seed0", "dpo:beta=0.2/seed1",
                                      "orpo/seed0", "orpo/seed1"]
    member = out["members"]["orpo/seed1"]
    assert not member["failed"] and len(member["curves"]["loss"]) == len(out["curve_steps"])
    assert (run / "policies.safetensors").exists()
    res = runner.invoke(main, args)
    assert res.exit_code == 2 and "already holds a training run" in res.output
    assert "--force" in res.output


@pytest.mark.parametrize(
    ("loss", "needle"),
    [("dpoo", "unknown loss 'dpoo'"), ("dpo:gamma=1", "no hyper-parameter"),
     ("dpo:beta=x", "is not a number"), ("missing.json", "missing.json")],
)
def test_train_rejects_bad_loss_specs(tiny_assets, tmp_path, loss, needle):
    runner = CliRunner()
    data = tmp_path / "ds"
    runner.invoke(main, ["data", "make", "--pairs", "8", "--horizon", "4", "--out", str(data)])
    res = runner.invoke(main, ["train", "--data", str(data), "--loss", loss, "--steps", "1",
                               "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert needle in res.output


@pytest.mark.e2e
def test_bench_tiny_end_to_end_and_resume(tiny_assets, tmp_path):
    runner = CliRunner()
    root = tmp_path / "suite"
    for preset in ("clean", "noisy-20"):
        res = runner.invoke(main, ["data", "make", "--preset", preset, "--pairs", "16",
                                   "--horizon", "5", "--out", str(root / "hopper" / preset)])
        assert res.exit_code == 0, res.output
    out = tmp_path / "bench"
    args = ["bench", "--presets", "clean,noisy-20", "--data-root", str(root),
            "--losses", "dpo,sft,orpo:beta=0.5", "--seeds", "2", "--val-seeds", "1",
            "--steps", "4", "--batch-pairs", "4", "--episodes", "2", "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("preset,loss,spec,runs")
    assert len(summary) == 1 + 2 * 4  # reference + 3 losses, per preset
    assert summary[1].startswith("clean,reference,")
    members = (out / "members.csv").read_text()
    for beta in ("0.01", "0.1", "1"):  # dpo swept on validation seeds only
        assert f"validation,clean,dpo,dpo:beta={beta},1000" in members
    assert "test,noisy-20,orpo:beta=0.5,orpo:beta=0.5,1" in members
    for kind in ("bars", "curves", "logps"):
        assert (out / "plots" / f"{kind}_noisy-20.png").stat().st_size > 1000
    unit = out / "units" / "clean.test.json"
    before = unit.stat().st_mtime_ns
    threads = torch.get_num_threads()
    try:  # resumes: nothing retrained; the thread count is not part of the protocol
        res = runner.invoke(main, [*args, "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    assert unit.stat().st_mtime_ns == before
    res = runner.invoke(main, [*args[:-2], "--seeds", "3", "--out", str(out)])
    assert res.exit_code == 2 and "different benchmark" in res.output
    res = runner.invoke(main, [*args[:2], "clean,mixed", *args[3:]])
    assert res.exit_code == 2 and "no dataset" in res.output


def test_demo_tiny(tiny_assets, tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--pairs", "16", "--seeds", "2", "--steps", "3",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    md = (out / "demo.md").read_text()
    assert "| reference | π_ref |" in md and "| dpo:beta=0.1 |" in md
    assert "| mpo:mpo-at-dpo-point |" in md
    assert (out / "demo_scores.png").exists() and (out / "demo_curves.png").exists()


@pytest.mark.e2e
def test_search_tiny_end_to_end_and_resume(tiny_assets, tmp_path):
    runner = CliRunner()
    data = tmp_path / "ds"
    res = runner.invoke(main, ["data", "make", "--pairs", "16", "--horizon", "5",
                               "--out", str(data)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "search"
    args = ["search", "--data", str(data), "--popsize", "4", "--generations", "2",
            "--steps", "3", "--batch-pairs", "4", "--episodes", "2", "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    state = json.loads((out / "state.json").read_text())
    assert state["generations_done"] == 2 and len(state["history"]) == 2
    assert (out / "best.json").exists() and "mean:" in res.output
    res = runner.invoke(main, args)  # same directory without --resume: refused
    assert res.exit_code == 2 and "state.json" in res.output and "--resume" in res.output
    more = [a if a != "2" else "3" for a in args] + ["--resume"]
    res = runner.invoke(main, more)  # a different config: refused
    assert res.exit_code == 2 and "different" in res.output
    res = runner.invoke(main, [*args, "--resume"])  # nothing left: replays, same result
    assert res.exit_code == 0, res.output
    assert json.loads((out / "state.json").read_text())["history"] == state["history"]
    res = runner.invoke(main, [*args[:3], "--popsize", "3", *args[5:-2], "--out",
                               str(tmp_path / "odd")])
    assert res.exit_code == 2 and "must be even" in res.output
    res = runner.invoke(main, [*args[:-2], "--out", str(tmp_path / "a"), "--address", "auto"])
    assert res.exit_code == 2 and "ray backend" in res.output
    follow = [*args[:-2], "--family", "ta-mpo", "--start", str(out / "best.json"), "--out",
              str(tmp_path / "follow")]
    res = runner.invoke(main, follow)  # a new search from the first one's best loss
    assert res.exit_code == 0, res.output
    follow_state = json.loads((tmp_path / "follow" / "state.json").read_text())
    assert follow_state["config"]["start"] == str(out / "best.json")
    assert follow_state["history"][0]["mean_vector"][0] == state["best"]["vector"][0]  # β
    res = runner.invoke(main, [*follow[:-4], "--start", "dop", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--start: unknown start point 'dop'" in res.output
    assert not (tmp_path / "b").exists()


@pytest.mark.e2e
def test_meta_test_tiny_reuses_bench_members_exactly(tiny_assets, tmp_path):
    from mirrorpo.assets import load_reference
    from mirrorpo.benchmark import BenchRun, test_unit
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer

    runner = CliRunner()
    root = tmp_path / "suite"
    for preset in ("clean", "mixed"):
        res = runner.invoke(main, ["data", "make", "--preset", preset, "--pairs", "16",
                                   "--horizon", "5", "--out", str(root / "hopper" / preset)])
        assert res.exit_code == 0, res.output
    bench = tmp_path / "bench"
    common = ["--steps", "4", "--batch-pairs", "4", "--episodes", "2"]
    res = runner.invoke(main, ["bench", "--presets", "clean,mixed", "--data-root", str(root),
                               "--losses", "dpo,orpo", "--seeds", "2", "--val-seeds", "1",
                               *common, "--out", str(bench)])
    assert res.exit_code == 0, res.output
    search = tmp_path / "hopper-mixed"
    draw = tmp_path / "pool" / "mixed-7"  # the search fits another draw of the preset
    res = runner.invoke(main, ["data", "make", "--preset", "mixed", "--seed", "7", "--pairs",
                               "16", "--horizon", "5", "--out", str(draw)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["search", "--data", str(draw), "--popsize",
                               "4", "--generations", "1", *common, "--out", str(search)])
    assert res.exit_code == 0, res.output
    # the search's own draw is refused, before anything is trained or written
    import shutil

    fitted = tmp_path / "fitted"
    shutil.copytree(root, fitted)
    shutil.rmtree(fitted / "hopper" / "mixed")
    shutil.copytree(draw, fitted / "hopper" / "mixed")
    res = runner.invoke(main, ["meta-test", "--bench", str(bench), "--losses",
                               str(search / "best.json"), "--seeds", "3", "--data-root",
                               str(fitted), "--out", str(tmp_path / "refused")])
    assert res.exit_code == 2 and "was fitted on" in res.output, res.output
    assert str(search / "best.json") in " ".join(res.output.split())
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "meta"
    args = ["meta-test", "--bench", str(bench), "--losses",
            f"{search / 'mean.json'},{search / 'best.json'}", "--seeds", "3",
            "--data-root", str(root), "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    md = (out / "meta_test.md").read_text()
    for preset in ("clean", "mixed"):
        for name in ("mpo:hopper-mixed-mean", "mpo:hopper-mixed-best"):
            assert f"| {preset} | {name} |" in md
    # Members reused from the bench (seeds 0, 1) equal a retraining from scratch.
    run = BenchRun.open(out)
    unit = run.load("mixed", "test")
    assert len(unit["members"]) == 4 * 3 and len(unit["reference"]) == 3
    bench_unit = BenchRun.open(bench).load("mixed", "test")
    assert unit["members"][0] == bench_unit["members"][0]
    chosen = run.load("mixed", "validation")["chosen"]
    fresh = test_unit(run.cfg, chosen, load_dataset(root / "hopper" / "mixed").arrays,
                      load_reference("hopper"), NormalisedScorer.for_env("hopper", 2))
    assert [m["score"] for m in unit["members"]] == [m["score"] for m in fresh["members"]]
    assert unit["reference"] == fresh["reference"]
    res = runner.invoke(main, ["report", str(search), "--meta-test", str(out)])
    assert res.exit_code == 0, res.output
    assert "mpo:hopper-mixed-mean" in (search / "report" / "report.md").read_text()
    res = runner.invoke(main, [*args[:6], "4", *args[7:]])  # other seeds, same --out
    assert res.exit_code == 2 and "different benchmark" in res.output
    # --reuse takes members over from an earlier meta-test: a planted score survives.
    earlier = tmp_path / "earlier"
    shutil.copytree(out, earlier)
    path = earlier / "units" / "mixed.test.json"
    planted = json.loads(path.read_text())
    assert planted["members"][2]["seed"] == 2  # a baseline at a seed the bench lacks
    planted["members"][2]["score"] = 123.0
    assert planted["members"][8]["seed"] == 2 and planted["members"][8]["loss"].endswith(
        "hopper-mixed-mean.json")  # a discovered loss, keyed by the earlier run's copy
    planted["members"][8]["score"] = 77.0
    path.write_text(json.dumps(planted))
    again = [*args[:-2], "--out", str(tmp_path / "again"), "--presets", "mixed",
             "--reuse", str(earlier)]
    res = runner.invoke(main, again)
    assert res.exit_code == 0, res.output
    unit = BenchRun.open(tmp_path / "again").load("mixed", "test")
    assert unit["members"][2]["score"] == 123.0
    # ... and so are a discovered loss's members, whatever --out its file was copied to.
    assert unit["members"][8]["score"] == 77.0
    mean_copy = tmp_path / "again" / "losses" / "hopper-mixed-mean.json"
    assert unit["members"][8]["loss"] == str(mean_copy)
    config = json.loads((earlier / "config.json").read_text())
    (earlier / "config.json").write_text(json.dumps({**config, "episodes": 3}))
    res = runner.invoke(main, [*again[:-4], "--out", str(tmp_path / "third"), *again[-4:]])
    assert res.exit_code == 2 and "--reuse" in res.output and "differently" in res.output
    assert not (tmp_path / "third").exists()
    res = runner.invoke(main, [*args[:4], str(search / "nope.json"), *args[5:]])
    assert res.exit_code == 2 and "nope.json" in res.output
