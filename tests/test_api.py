"""The Python API (mirrorpo.api and the jobs behind it), called directly, not through the CLI:
mixed losses, labels and strict run files; refusals before any work; resume of bench, meta-test
and search (the latter across the Python and command-line entry points); output-directory
checks; the atomic directory swap; library field names shown as CLI flags.

Every test is small: tiny random-policy Hopper assets (``tiny_assets``), 12-pair datasets of
5 steps, 3-4 training steps, 2 evaluation episodes.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mirrorpo.api import (
    BenchConfig,
    DataConfig,
    MetaTestConfig,
    NamedLoss,
    TrainConfig,
    TrainRunConfig,
    bench,
    make_dataset,
    meta_test,
    train,
)
from mirrorpo.benchmark import BenchRun
from mirrorpo.config import ConfigError
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import FitnessConfig
from mirrorpo.discovery.job import search
from mirrorpo.discovery.run import SearchConfig
from mirrorpo.losses.mpo import MPOLoss, dpo_point, load_mpo
from mirrorpo.outputs import atomic_dir

# Modules whose functions tests replace; by import_module, since the package `mirrorpo` also
# exports API functions named bench, search and train.
bench_mod = importlib.import_module("mirrorpo.benchmark")
fitness_mod = importlib.import_module("mirrorpo.discovery.fitness")
generate_mod = importlib.import_module("mirrorpo.data.generate")
outputs_mod = importlib.import_module("mirrorpo.outputs")
train_run = importlib.import_module("mirrorpo.training.run")

TINY = TrainConfig(steps=3, batch_pairs=4)
RUN = TrainRunConfig(seeds=2, episodes=2, train=TINY)


def tiny_dataset(out: Path, preset: str = "noisy-20"):
    return make_dataset(DataConfig(preset=preset, pairs=12, horizon=5, seed=1), out)


def strict_json(text: str):
    """json.loads that refuses NaN and ±Infinity (not JSON)."""

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def margin_logistic(batch):
    """A user-defined loss: DPO at β = 1, written against PreferenceBatch."""
    return -torch.nn.functional.logsigmoid(batch.margin)


def nan_loss(batch):
    return batch.margin * float("nan")


class Forbidden(AssertionError):
    """Raised by a training or scoring function that a test says must not run."""


def forbid(*_args, **_kwargs):
    raise Forbidden("trained or evaluated although nothing was left to do")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: (bytes, mtime_ns), keyed by relative path."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def restore_threads():
    """CLI commands set torch's thread count (--threads); put it back afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- train


def test_train_mixed_losses_labels_and_strict_save(tiny_assets, tmp_path):
    ds = tiny_dataset(tmp_path / "ds")
    loss_file = tmp_path / "found" / "mine.json"
    loss_file.parent.mkdir()
    MPOLoss("mpo", dpo_point(0.1)).save(loss_file)
    run = train(ds, ["dpo", "orpo:beta=0.5", str(loss_file), margin_logistic], RUN)
    labels = ["dpo", "orpo:beta=0.5", "mpo:mine", "margin_logistic"]
    assert [m.name for m in run.members] == [f"{lab}/seed{k}" for lab in labels for k in (0, 1)]
    assert [m.label for m in run.members[::2]] == labels
    assert [m.spec for m in run.members[::2]] == ["dpo", "orpo:beta=0.5", str(loss_file),
                                                  "python:margin_logistic"]
    assert [m.seed for m in run.members] == [0, 1] * 4
    assert not run.failures and all(s is not None for s in run.scores().values())
    assert run.policies.size == 8

    out = tmp_path / "run"
    run.save(out)
    saved = strict_json((out / "run.json").read_text())
    assert list(saved["members"]) == [m.name for m in run.members]
    member = saved["members"]["margin_logistic/seed1"]
    assert member["status"] == "ok" and member["loss_spec"] == "python:margin_logistic"
    assert len(member["curves"]["loss"]) == len(saved["curve_steps"])
    assert (out / "policies.safetensors").is_file()

    before = snapshot(out)
    with pytest.raises(ValueError, match="already holds a training run.*`force`"):
        run.save(out)
    assert snapshot(out) == before
    fewer = train(ds, ["dpo"], TrainRunConfig(seeds=1, episodes=2, train=TINY))
    fewer.save(out, force=True)
    assert list(strict_json((out / "run.json").read_text())["members"]) == ["dpo/seed0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "ds", "found", "run"]


def test_nan_member_is_reported_failed_with_null_scores(tiny_assets, tmp_path):
    ds = tiny_dataset(tmp_path / "ds")
    run = train(ds, ["dpo", nan_loss], TrainRunConfig(seeds=1, episodes=2, train=TINY))
    ok, bad = run.members
    assert not ok.failed and ok.score is not None
    assert bad.failed and bad.score is None and bad.fail_reason
    assert run.failures == {"nan_loss/seed0": bad.fail_reason}
    assert run.scores()["nan_loss/seed0"] is None
    run.save(tmp_path / "run")
    saved = strict_json((tmp_path / "run" / "run.json").read_text())["members"]
    assert saved["dpo/seed0"]["status"] == "ok"
    member = saved["nan_loss/seed0"]
    assert member["status"] == "failed" and member["failed"] is True
    assert member["fail_reason"] == bad.fail_reason
    for key in ("score_sampled", "score_sampled_ci95", "score_mean_action", "return_sampled"):
        assert member[key] is None


# ----------------------------------------------------------------------------- labels


def test_duplicate_labels_refused_before_training(tiny_assets, tmp_path, monkeypatch):
    ds = tiny_dataset(tmp_path / "ds")
    monkeypatch.setattr(train_run, "train_population", forbid)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        MPOLoss("mpo", dpo_point(0.1)).save(tmp_path / d / "best.json")

    def make_twin():
        def margin_logistic(batch):  # another function, the same __name__
            return -torch.nn.functional.logsigmoid(batch.margin)

        return margin_logistic

    twin = make_twin()
    cases = [(["dpo", "dpo"], "'dpo'"),
             (["orpo", str(tmp_path / "a" / "best.json"), str(tmp_path / "b" / "best.json")],
              "'mpo:best'"),
             ([margin_logistic, "dpo", twin], "'margin_logistic'")]
    for losses, label in cases:
        with pytest.raises(ConfigError) as err:
            train(ds, losses, RUN)
        msg = str(err.value)
        assert f"share the label {label}" in msg and "\n" not in msg

    # distinct labels pass resolution and reach training (which is forbidden here)
    named = NamedLoss("margin_logistic-2", twin)
    for losses in (["dpo", "dpo:beta=0.1"], [margin_logistic, named],
                   [str(tmp_path / "a" / "best.json"), "dpo"]):
        with pytest.raises(Forbidden):
            train(ds, losses, RUN)


# ----------------------------------------------------------------------------- bench


def bench_suite(tmp_path: Path, presets=("clean",)) -> Path:
    root = tmp_path / "suite"
    for preset in presets:
        tiny_dataset(root / "hopper" / preset, preset)
    return root


def bench_config(**kw) -> BenchConfig:
    return BenchConfig(**{"presets": ("clean",), "losses": ("dpo:beta=0.1", "orpo"),
                          "seeds": 2, "val_seeds": 1, "episodes": 2, "train": TINY, **kw})


def test_bench_resume_trains_nothing_and_refuses_another_config(tiny_assets, tmp_path,
                                                                monkeypatch):
    root = bench_suite(tmp_path)
    out = tmp_path / "bench"
    first = bench(bench_config(), out, data_root=root)
    units = snapshot(out / "units")
    assert sorted(units) == ["clean.test.json", "clean.validation.json"]
    monkeypatch.setattr(bench_mod, "train_and_score", forbid)
    second = bench(bench_config(), out, data_root=root)
    assert snapshot(out / "units") == units
    assert repr(second) == repr(first)  # RowStats may hold NaN (nan != nan), repr does not
    assert list(second["clean"]) == ["reference", "dpo:beta=0.1", "orpo"]
    with pytest.raises(FileExistsError) as err:
        bench(bench_config(seeds=3), out, data_root=root)
    assert "seeds: 2 (saved) vs 3 (given)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileExistsError, match=r"train\.steps: 3 \(saved\) vs 4 \(given\)"):
        bench(bench_config(train=TrainConfig(steps=4, batch_pairs=4)), out, data_root=root)
    assert snapshot(out / "units") == units


def test_bench_units_are_strict_json_with_failed_members_marked(tiny_assets, tmp_path):
    root = bench_suite(tmp_path)
    tables = bench(bench_config(losses=("dpo:beta=0.1", nan_loss)), tmp_path / "b",
                   data_root=root)
    assert tables["clean"]["nan_loss"][0].failed == 2  # counted (as 0) and reported
    for path in (tmp_path / "b" / "units").glob("*.json"):
        unit = strict_json(path.read_text())
        for m in unit["members"]:
            assert m["status"] == ("failed" if m["loss"] == "python:nan_loss" else "ok")
            if m["status"] == "failed":
                assert m["score"] is None and "non-finite" in m["fail_reason"]
    summary = (tmp_path / "b" / "summary.md").read_text()
    assert "(2 failed)" in summary


# ----------------------------------------------------------------------------- meta-test


def test_meta_test_takes_over_bench_members_and_reuses_earlier_run(tiny_assets, tmp_path,
                                                                   monkeypatch):
    root = bench_suite(tmp_path)
    bench_dir = tmp_path / "bench"
    bench(bench_config(), bench_dir, data_root=root)
    loss_file = tmp_path / "found" / "best.json"
    loss_file.parent.mkdir()
    MPOLoss("mpo", dpo_point(0.3)).save(loss_file)

    trained: list[list[str]] = []
    real = bench_mod.train_and_score

    def recording(arrays, reference, specs, *args, **kwargs):
        trained.append(list(specs))
        return real(arrays, reference, specs, *args, **kwargs)

    monkeypatch.setattr(bench_mod, "train_and_score", recording)
    config = MetaTestConfig(bench=str(bench_dir), losses=(str(loss_file),), seeds=2,
                            data_root=str(root))
    first_out = tmp_path / "meta1"
    verdicts = meta_test(config, first_out)
    copy = str(first_out / "losses" / "found-best.json")
    assert trained == [[copy, copy]]  # only the discovered loss, on seeds 0 and 1
    assert [(v["preset"], v["loss"]) for v in verdicts] == [("clean", "mpo:found-best")]
    unit = BenchRun.open(first_out).load("clean", "test")
    bench_unit = BenchRun.open(bench_dir).load("clean", "test")
    baselines = [m for m in unit["members"] if m["loss"] != copy]
    assert baselines == bench_unit["members"]  # identical member dicts, taken over
    assert unit["reference"] == bench_unit["reference"]

    monkeypatch.setattr(bench_mod, "train_and_score", forbid)
    second_out = tmp_path / "meta2"
    again = meta_test(MetaTestConfig(bench=str(bench_dir), losses=(str(loss_file),), seeds=2,
                                     data_root=str(root), reuse=(str(first_out),)), second_out)
    second = BenchRun.open(second_out).load("clean", "test")
    rekeyed = str(second_out / "losses" / "found-best.json")
    assert [m["loss"] for m in second["members"]] == [
        rekeyed if m["loss"] == copy else m["loss"] for m in unit["members"]]
    assert [m["score"] for m in second["members"]] == [m["score"] for m in unit["members"]]
    assert repr(again) == repr(verdicts)


def test_meta_test_of_a_python_callable_and_a_spec(tiny_assets, tmp_path):
    """Losses to meta-test need not be files: a callable and a module:function spec are
    trained on the test seeds beside the taken-over baselines and get verdicts."""
    root = bench_suite(tmp_path)
    bench_dir = tmp_path / "bench"
    bench(bench_config(), bench_dir, data_root=root)
    config = MetaTestConfig(bench=str(bench_dir), seeds=2, data_root=str(root),
                            losses=(margin_logistic, "mirrorpo.losses.baselines:hinge:beta=0.2"))
    verdicts = meta_test(config, tmp_path / "meta")
    assert [v["loss"] for v in verdicts] == [
        "margin_logistic", "mirrorpo.losses.baselines:hinge:beta=0.2"]
    unit = BenchRun.open(tmp_path / "meta").load("clean", "test")
    assert {m["loss"] for m in unit["members"]} == {
        "dpo:beta=0.1", "orpo", "python:margin_logistic",
        "mirrorpo.losses.baselines:hinge:beta=0.2"}


# ----------------------------------------------------------------------------- search


SEARCH_FLAGS = ["--popsize", "4", "--generations", "2", "--steps", "3", "--batch-pairs", "4",
                "--episodes", "2"]


def search_config(data: str) -> SearchConfig:
    return SearchConfig(popsize=4, generations=2,
                        fitness=FitnessConfig(data=(data,), episodes=2, train=TINY))


def cli_search(data: str, out: Path, *extra: str):
    from mirrorpo.cli import main

    return CliRunner().invoke(main, ["search", "--data", data, *SEARCH_FLAGS, "--out", str(out),
                                     *extra])


def test_search_resumes_across_python_and_cli(tiny_assets, tmp_path, monkeypatch,
                                              restore_threads):
    tiny_dataset(tmp_path / "ds")
    monkeypatch.chdir(tmp_path)
    absolute = str(tmp_path / "ds")
    assert FitnessConfig(data=("ds",)).data == (absolute,)  # relative paths are normalised

    # Python first (relative data path), then the CLI resumes it (absolute path).
    py_first = tmp_path / "py-first"
    result = search(search_config("ds"), py_first)
    assert len(result.history) == 2
    state = json.loads((py_first / "state.json").read_text())
    assert state["config"]["fitness"]["data"] == [absolute]
    with monkeypatch.context() as m:
        m.setattr(fitness_mod, "shard_scores", forbid)
        res = cli_search(absolute, py_first, "--resume")
        assert res.exit_code == 0, res.output
        assert json.loads((py_first / "state.json").read_text())["history"] == state["history"]
        res = cli_search(absolute, py_first, "--resume", "--seed", "1")  # another config
        assert res.exit_code == 2 and "seed: 0 (saved) vs 1 (given)" in res.output

    # The CLI first (relative data path), then Python resumes it (absolute path).
    cli_first = tmp_path / "cli-first"
    res = cli_search("ds", cli_first)
    assert res.exit_code == 0, res.output
    state = json.loads((cli_first / "state.json").read_text())
    assert state["config"] == json.loads(json.dumps(search_config(absolute).to_json()))
    monkeypatch.setattr(fitness_mod, "shard_scores", forbid)
    again = search(search_config(absolute), cli_first, resume=True)
    assert json.loads((cli_first / "state.json").read_text())["history"] == state["history"]
    assert len(again.history) == 2
    with pytest.raises(ValueError, match="already holds a search.*`resume`"):
        search(search_config(absolute), cli_first)


def test_meta_test_refuses_a_search_s_own_fitness_draws(tiny_assets, tmp_path, monkeypatch):
    """Issue 16: a search records its fitness draws' fingerprints (state.json; best.json and
    mean.json as fitted_on); meta-test refuses those draws before any training, in one line
    naming the dataset and the loss file, and takes fresh draws, retraining the baselines on
    them rather than reusing members trained on another draw."""
    root = bench_suite(tmp_path)  # hopper/clean, seed 1: one draw of the meta-train pool
    draws = [root / "hopper" / "clean", tmp_path / "pool" / "clean-2"]
    make_dataset(DataConfig(preset="clean", pairs=12, horizon=5, seed=2), draws[1])
    fitness = FitnessConfig(data=tuple(map(str, draws)), fitness_seeds=2, pool=True,
                            episodes=2, train=TINY)
    search(SearchConfig(popsize=4, generations=1, fitness=fitness), tmp_path / "s")
    fps = [load_dataset(d).card["fingerprint"] for d in draws]
    assert len(set(fps)) == 2
    assert json.loads((tmp_path / "s" / "state.json").read_text())["fitness_fingerprints"] == fps
    for name in ("best.json", "mean.json"):
        assert json.loads((tmp_path / "s" / name).read_text())["fitted_on"] == fps
        assert load_mpo(tmp_path / "s" / name).fitted_on == tuple(fps)

    bench_dir = tmp_path / "bench"
    bench(bench_config(), bench_dir, data_root=root)
    best = str(tmp_path / "s" / "best.json")
    real = bench_mod.train_and_score
    monkeypatch.setattr(bench_mod, "train_and_score", forbid)
    with pytest.raises(ConfigError) as err:
        meta_test(MetaTestConfig(bench=str(bench_dir), losses=(best,), seeds=2,
                                 data_root=str(root)), tmp_path / "meta")
    message = str(err.value)
    assert str(draws[0]) in message and best in message and fps[0] in message
    assert "\n" not in message and not (tmp_path / "meta").exists()

    fresh = tmp_path / "fresh"
    make_dataset(DataConfig(preset="clean", pairs=12, horizon=5, seed=100),
                 fresh / "hopper" / "clean")
    trained: list[list[str]] = []

    def recording(arrays, reference, specs, *args, **kwargs):
        trained.append(list(specs))
        return real(arrays, reference, specs, *args, **kwargs)

    monkeypatch.setattr(bench_mod, "train_and_score", recording)
    verdicts = meta_test(MetaTestConfig(bench=str(bench_dir), losses=(best,), seeds=2,
                                        data_root=str(fresh)), tmp_path / "meta")
    assert [v["loss"] for v in verdicts] == ["mpo:s-best"]
    copy = str(tmp_path / "meta" / "losses" / "s-best.json")
    chosen = BenchRun.open(bench_dir).load("clean", "validation")["chosen"]
    assert sorted(trained[0]) == sorted([*chosen.values(), *chosen.values(), copy, copy])
    unit = BenchRun.open(tmp_path / "meta").load("clean", "test")
    assert unit["fingerprint"] == load_dataset(fresh / "hopper" / "clean").fingerprint


# ----------------------------------------------------------------------------- outputs


def bad_output(tmp_path: Path, kind: str) -> Path:
    """An output path that must be refused: an existing file, a non-empty directory of
    someone else's, or (non-root only) an unwritable directory."""
    if kind == "file":
        path = tmp_path / "taken"
        path.write_text("not mine\n")
    elif kind == "foreign":
        path = tmp_path / "foreign"
        (path / "sub").mkdir(parents=True)
        (path / "notes.txt").write_text("keep me\n")
        (path / "sub" / "data.bin").write_bytes(b"\x00\x01")
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write anywhere")
        path = tmp_path / "locked"
        path.mkdir()
        path.chmod(0o555)
    return path


BAD_KINDS = ["file", "foreign", "unwritable"]
NEEDLES = {"file": "is a file", "foreign": "holds other files", "unwritable": "not writable"}


def check_refused(call, path: Path, kind: str) -> None:
    before = snapshot(path) if path.is_dir() else path.read_bytes()
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert str(path) in msg and NEEDLES[kind] in msg and "\n" not in msg
    assert (snapshot(path) if path.is_dir() else path.read_bytes()) == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_train_save_refuses_bad_output(tiny_assets, tmp_path, kind):
    path = bad_output(tmp_path, kind)
    run = train(tiny_dataset(tmp_path / "ds"), ["dpo"],
                TrainRunConfig(seeds=1, episodes=2, train=TrainConfig(steps=1, batch_pairs=4)))
    check_refused(lambda: run.save(path), path, kind)
    check_refused(lambda: run.save(path, force=True), path, kind)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_make_dataset_refuses_bad_output_before_drawing(tiny_assets, tmp_path, monkeypatch,
                                                        kind):
    monkeypatch.setattr(generate_mod, "make_dataset", forbid)
    path = bad_output(tmp_path, kind)
    config = DataConfig(pairs=12, horizon=5)
    check_refused(lambda: make_dataset(config, path), path, kind)
    check_refused(lambda: make_dataset(config, path, force=True), path, kind)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bench_refuses_bad_output_before_training(tiny_assets, tmp_path, monkeypatch, kind):
    path = bad_output(tmp_path, kind)
    root = bench_suite(tmp_path)
    monkeypatch.setattr(bench_mod, "train_and_score", forbid)
    check_refused(lambda: bench(bench_config(), path, data_root=root), path, kind)
    check_refused(lambda: bench(bench_config(), path, data_root=root, force=True), path, kind)


def test_atomic_dir_keeps_old_directory_on_error_and_swaps_whole_on_success(tmp_path,
                                                                            monkeypatch):
    target = tmp_path / "result"
    target.mkdir()
    (target / "old.txt").write_text("old\n")
    with pytest.raises(RuntimeError, match="midway"), atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        (tmp / "old.txt").write_text("half-written\n")
        raise RuntimeError("midway")
    assert [p.name for p in tmp_path.iterdir()] == ["result"]  # no temp dir left behind
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert (target / "old.txt").read_text() == "old\n"

    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new\n")
    assert [p.name for p in tmp_path.iterdir()] == ["result"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]  # replaced whole, not merged

    # without renameat2(RENAME_EXCHANGE): the rename-aside fallback, same outcome
    monkeypatch.setattr(outputs_mod, "exchange", lambda a, b: False)
    with atomic_dir(target) as tmp:
        (tmp / "third.txt").write_text("3\n")
    assert [p.name for p in tmp_path.iterdir()] == ["result"]
    assert [p.name for p in target.iterdir()] == ["third.txt"]

    fresh = tmp_path / "deep" / "fresh"  # a new path: created with its parents
    with atomic_dir(fresh) as tmp:
        (tmp / "x").write_text("x")
    assert [p.name for p in fresh.iterdir()] == ["x"]
    assert [p.name for p in fresh.parent.iterdir()] == ["fresh"]


# ----------------------------------------------------------------------------- CLI flags


def test_flag_names_maps_library_fields_to_flags():
    from mirrorpo.cli.common import flag_names

    with pytest.raises(ConfigError) as err:
        TrainConfig(steps=0)
    assert str(err.value).startswith("TrainConfig.steps: ")
    assert flag_names(str(err.value)).startswith("--steps: ")
    assert flag_names("BenchConfig.val_seeds: must be ≥ 1") == "--val-seeds: must be ≥ 1"
    assert flag_names("x: already holds a run; `force` replaces it") == \
        "x: already holds a run; --force replaces it"
    assert flag_names("x: `resume` continues it") == "x: --resume continues it"
    assert flag_names("no field here: config.json") == "no field here: config.json"


def test_cli_reports_config_errors_under_flag_names(tmp_path, restore_threads):
    from mirrorpo.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["train", "--data", str(tmp_path / "ds"), "--loss", "dpo",
                               "--steps", "0", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "--steps" in res.output
    assert not (tmp_path / "run").exists()
    # a ConfigError raised by the library (not by click's option types) shows the flag too
    res = runner.invoke(main, ["search", "--data", str(tmp_path / "ds"), "--popsize", "3",
                               "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "--popsize" in res.output and "must be even" in res.output
    assert "SearchConfig" not in res.output
    assert not (tmp_path / "s").exists()
