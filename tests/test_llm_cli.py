"""`mirrorpo llm` end to end on a tiny local Llama: data → train (full and LoRA, a built-in
loss and a TA-MPO file) → eval; clear errors for bad input."""

import json

import pytest

pytest.importorskip("trl", reason="the llm extra (trl, transformers) is not installed")

import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from mirrorpo.cli import main  # noqa: E402
from mirrorpo.losses.mpo import MPOLoss, dpo_point, from_vector, to_vector  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, char_tokenizer, tiny_llama):
    out = tmp_path_factory.mktemp("tiny-llama")
    tok = char_tokenizer(chat=True)
    tiny_llama(tok).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def invoke(*args):
    return CliRunner().invoke(main, ["llm", *map(str, args)])


@pytest.fixture(scope="module")
def tiny_data(tiny_model_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("llm-data")
    res = invoke("data", "--model", tiny_model_dir, "--out", data, "--samples", "3",
                 "--max-new-tokens", "6", "--max-prompts", "8")
    assert res.exit_code == 0, res.output
    return data


def test_llm_data_train_eval(tiny_model_dir, tiny_data, tmp_path):
    data = tiny_data
    cards = json.loads((data / "cards.json").read_text())["presets"]
    assert set(cards) == {"clean", "noisy-20", "mixed"}
    rows = [json.loads(x) for x in (data / "mixed.jsonl").read_text().splitlines()]
    assert 0 < len(rows) <= 8 and rows[0]["prompt"][0]["role"] == "user"
    assert len(json.loads((data / "heldout.json").read_text())["prompts"]) == 8
    res = invoke("data", "--model", tiny_model_dir, "--out", data, "--samples", "3",
                 "--max-new-tokens", "6", "--max-prompts", "8")
    assert res.exit_code == 0 and "reusing" in res.output

    ta = tmp_path / "ta.json"
    MPOLoss("ta-mpo", from_vector(to_vector(dpo_point(), "ta-mpo"), "ta-mpo")).save(ta)
    common = ["--data", data / "mixed.jsonl", "--model", tiny_model_dir, "--steps", "2",
              "--batch-size", "2", "--max-length", "96"]
    run = tmp_path / "run"
    res = invoke("train", "--loss", "dpo:beta=0.2", *common, "--out", run)
    assert res.exit_code == 0, res.output
    assert (run / "model" / "model.safetensors").is_file()
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "rewards/margins" in log[0]
    res = invoke("train", "--loss", "dpo", *common, "--out", run)
    assert res.exit_code == 2 and "already holds" in res.output
    lora = tmp_path / "lora"
    res = invoke("train", "--loss", ta, "--lora", *common, "--out", lora)
    assert res.exit_code == 0, res.output
    assert (lora / "model" / "adapter_model.safetensors").is_file()

    for r in (run, lora):
        res = invoke("eval", "--run", r, "--reference", tiny_model_dir, "--data", data,
                     "--max-new-tokens", "6", "--out", r / "eval.json")
        assert res.exit_code == 0, res.output
        m = json.loads((r / "eval.json").read_text())
        assert 0 <= m["win_rate"] <= 1 and 0 <= m["lc_win_rate"] <= 1
        assert m["prompts"] == 8 and m["kl_to_reference"] == m["kl_to_reference"]


def test_llm_bench_trains_evaluates_and_resumes(tiny_model_dir, tiny_data, tmp_path):
    mpo = tmp_path / "search-run" / "mean.json"
    mpo.parent.mkdir()
    MPOLoss("mpo", dpo_point()).save(mpo)
    out = tmp_path / "bench"
    args = ["bench", "--data", tiny_data, "--presets", "mixed,noisy-20", "--losses",
            f"dpo,{mpo}", "--model", tiny_model_dir, "--seeds", "2", "--steps", "2",
            "--batch-size", "2", "--max-length", "96", "--max-new-tokens", "6", "--out", out]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    evals = sorted(out.glob("units/*/*/seed-*/eval.json"))
    assert len(evals) == 2 * 2 * 2
    assert {e.parent.parent.name for e in evals} == {"dpo", "search-run-mean"}
    assert len(list(out.glob("reference/seed-*.json"))) == 2
    summary = (out / "summary.md").read_text()
    assert "### mixed" in summary and "### noisy-20" in summary
    assert "search-run-mean" in summary and "| 2 |" in summary
    assert (out / "plots" / "win_rate_mixed.png").is_file()
    assert (out / "plots" / "frontier_mixed.png").is_file()
    assert "Head to head against dpo" in summary and "| search-run-mean | " in summary
    # the MPO loss at its DPO point trains exactly as dpo: same final loss per seed
    for preset in ("mixed", "noisy-20"):
        for k in range(2):
            a, b = (json.loads((out / "units" / preset / name / f"seed-{k}" / "eval.json")
                               .read_text()) for name in ("dpo", "search-run-mean"))
            assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-5)
            assert a["win_rate"] == b["win_rate"]
    stamp = {e: e.stat().st_mtime_ns for e in evals}
    res = invoke(*args)  # resumes: nothing retrained
    assert res.exit_code == 0, res.output
    assert {e: e.stat().st_mtime_ns for e in evals} == stamp
    other = list(args)
    other[other.index("--seeds") + 1] = "3"
    res = invoke(*other)
    assert res.exit_code == 2 and "other options" in res.output
    assert "seeds: 2 (saved) vs 3 (given)" in res.output
    res = invoke(*args[:3], "--presets", "nope", *args[5:])
    assert res.exit_code == 2 and "nope.jsonl" in res.output


def test_llm_generate_writes_alpacaeval_outputs(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"instruction": "Say hi."}, "Name a colour."]))
    outs = []
    for k in range(2):  # greedy decoding: the same outputs twice, whatever the seed
        out = tmp_path / f"out{k}.json"
        res = invoke("generate", "--reference", tiny_model_dir, "--prompts", prompts,
                     "--max-new-tokens", "5", "--seed", k, "--out", out)
        assert res.exit_code == 0, res.output
        outs.append(json.loads(out.read_text()))
    assert outs[0] == outs[1]
    assert [r["instruction"] for r in outs[0]] == ["Say hi.", "Name a colour."]
    assert {r["generator"] for r in outs[0]} == {tiny_model_dir.name}
    res = invoke("generate", "--reference", tiny_model_dir, "--prompts", prompts,
                 "--out", tmp_path / "out0.json")
    assert res.exit_code == 2 and "already exists" in res.output
    prompts.write_text(json.dumps([{"input": "x"}]))
    res = invoke("generate", "--reference", tiny_model_dir, "--prompts", prompts,
                 "--out", tmp_path / "new.json")
    assert res.exit_code == 2 and "item 0" in res.output


def test_llm_bad_input(tiny_model_dir, tmp_path):
    bad_loss = tmp_path / "loss.json"
    bad_loss.write_text(json.dumps({"family": "nope", "version": 1, "params": {}}))
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "x", "chosen": "y"}) + "\n")
    res = invoke("train", "--data", rows, "--loss", "dpo", "--model", tiny_model_dir,
                 "--out", tmp_path / "r")
    assert res.exit_code == 2 and f"{rows}:1: missing 'rejected'" in res.output
    res = invoke("train", "--data", rows, "--loss", bad_loss, "--model", tiny_model_dir,
                 "--out", tmp_path / "r")
    assert res.exit_code == 2 and "loss.json" in res.output
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"prompt": "x", "chosen": "y", "rejected": "z"}) + "\n")
    res = invoke("train", "--data", good, "--loss", "dpo", "--model", tmp_path / "nomodel",
                 "--out", tmp_path / "r")
    assert res.exit_code == 2 and "no config.json" in res.output


def my_loss(batch):
    return -torch.nn.functional.logsigmoid(0.1 * batch.margin)


def test_llm_train_from_python_with_a_callable_loss(tiny_model_dir, tiny_data, tmp_path):
    """mirrorpo.llm.train takes a plain Python function as the loss; it trains (the weights
    move, exactly as dpo:beta=0.1 moves them) and saves a run that records it by label."""
    from safetensors.torch import load_file

    import mirrorpo.llm as ml

    cfg = ml.LLMTrainConfig(steps=2, batch_size=2, max_length=96)
    data = tiny_data / "mixed.jsonl"
    res = ml.train(data, my_loss, tiny_model_dir, cfg, tmp_path / "mine")
    assert res.out == tmp_path / "mine" and res.label == "my_loss" and res.seconds > 0
    assert len(res.history) == 2 and res.final["loss"] == res.final["loss"]
    saved = json.loads((tmp_path / "mine" / "config.json").read_text())
    assert saved["loss"] == "python:my_loss" and saved["learning_rate"] == 5e-6
    assert saved["steps"] == 2 and saved["pairs"] > 0 and "train_seconds" in saved
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(res.model_dir / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    dpo = ml.train(data, "dpo:beta=0.1", tiny_model_dir, cfg, tmp_path / "dpo")
    assert [h["loss"] for h in res.history] == pytest.approx(
        [h["loss"] for h in dpo.history], rel=1e-5)
    with pytest.raises(ValueError, match="already holds"):
        ml.train(data, my_loss, tiny_model_dir, cfg, tmp_path / "mine")
    with pytest.raises(ValueError, match="LLMTrainConfig.steps"):
        ml.LLMTrainConfig(steps=0)


def test_llm_bench_from_python_records_callables_and_names_differences(
        tiny_model_dir, tiny_data, tmp_path):
    import mirrorpo.llm as ml

    out = tmp_path / "bench"
    cfg = ml.LLMBenchConfig(data=tiny_data, model=tiny_model_dir, losses=[my_loss],
                            presets=["mixed"], seeds=2,
                            train=ml.LLMBenchTrainConfig(steps=1, batch_size=2, max_length=96),
                            eval=ml.LLMEvalConfig(max_new_tokens=4))
    assert cfg.train.lora and ml.LLMTrainConfig().steps == 200 and ml.LLMBenchConfig(
        data="d", model="m", losses=("dpo",)).train.steps == 40
    summary = ml.bench(cfg, out)
    assert set(summary) == {("mixed", "my_loss")}
    assert summary["mixed", "my_loss"]["win_rate"].runs == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["losses"] == ["python:my_loss"] and saved["train"]["steps"] == 1
    assert len(list(out.glob("units/mixed/my_loss/seed-*/eval.json"))) == 2
    other = ml.LLMBenchConfig(**{**cfg.__dict__, "train": ml.LLMBenchTrainConfig(
        steps=2, batch_size=2, max_length=96)})
    with pytest.raises(FileExistsError, match=r"train\.steps: 1 \(saved\) vs 2 \(given\)"):
        ml.bench(other, out)


def test_llm_train_cli_imports_a_loss_by_module_path(tiny_model_dir, tiny_data, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", "--data", tiny_data / "mixed.jsonl", "--model", tiny_model_dir,
                 "--loss", "tests.user_losses:margin_loss:beta=0.2", "--steps", "1",
                 "--batch-size", "2", "--max-length", "96", "--out", run)
    assert res.exit_code == 0, res.output
    assert "trained tests.user_losses:margin_loss:beta=0.2" in res.output
    saved = json.loads((run / "config.json").read_text())
    assert saved["loss"] == "tests.user_losses:margin_loss:beta=0.2"
    res = invoke("train", "--data", tiny_data / "mixed.jsonl", "--model", tiny_model_dir,
                 "--loss", "tests.user_losses:nope", "--out", tmp_path / "r2")
    assert res.exit_code == 2 and "has no attribute 'nope'" in res.output


def test_llm_data_v2_resumes_chunk_by_chunk_with_the_same_result(tiny_model_dir, tmp_path,
                                                                  monkeypatch):
    """Prompt set v2 samples in seeded chunks saved as they finish: a run interrupted after
    its first chunk resumes to the same responses as a run that was never interrupted."""
    import mirrorpo.llm.build as build
    from mirrorpo.llm.config import LLMDataConfig
    from mirrorpo.llm.prompts import PROMPT_SETS, prompt_split

    train, held = prompt_split("v2", 0)
    assert len(train) >= 1000 and len(held) >= 300
    assert not {p for p in held} & set(train)
    _, topics = PROMPT_SETS["v2"]
    assert len(set(topics)) == len(topics)

    cfg = LLMDataConfig(samples=2, max_new_tokens=4, max_prompts=5, prompt_set="v2",
                        chunk_prompts=2)
    whole = build.make_data(tiny_model_dir, tmp_path / "whole", cfg)
    calls, real = [], build.sample_and_judge

    def stop_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(build, "sample_and_judge", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        build.make_data(tiny_model_dir, tmp_path / "resumed", cfg)
    saved = (tmp_path / "resumed" / build.RESPONSES_FILE).read_text().splitlines()
    assert len(saved) == 1 + 2  # the settings line and the first chunk's two prompts
    monkeypatch.setattr(build, "sample_and_judge", real)
    resumed = build.make_data(tiny_model_dir, tmp_path / "resumed", cfg)
    assert resumed == whole
    for name in (build.RESPONSES_FILE, "mixed.jsonl", "heldout.json"):
        assert (tmp_path / "resumed" / name).read_text() == (tmp_path / "whole" / name).read_text()
    header = json.loads(saved[0])["settings"]
    assert header["prompt_set"] == "v2" and header["chunk_prompts"] == 2
    with pytest.raises(ValueError, match="chunk_prompts"):  # other settings: refused
        build.make_data(tiny_model_dir, tmp_path / "resumed",
                        LLMDataConfig(samples=2, max_new_tokens=4, max_prompts=5,
                                      prompt_set="v2", chunk_prompts=3))


def test_frontier_groups_each_loss_sweep_in_increasing_kl(tmp_path):
    from mirrorpo.llm.bench_summary import MetricSummary, frontier_points, loss_family
    from mirrorpo.plots import frontier

    assert loss_family("dpo:beta=0.3") == "dpo" and loss_family("dpo") == "dpo"
    assert loss_family("hopper-mixed-best") == "hopper-mixed-best"
    assert loss_family("pkg.mod:fn") == "pkg.mod:fn"  # an import path, not a sweep

    def m(x):
        return MetricSummary(x, x - 0.1, x + 0.1, 3)

    summary = {("mixed", "dpo:beta=0.3"): {"kl_to_reference": m(1.0), "reward_mean": m(0.4)},
               ("mixed", "dpo:beta=0.03"): {"kl_to_reference": m(3.0), "reward_mean": m(0.6)},
               ("mixed", "ipo"): {"kl_to_reference": m(2.0), "reward_mean": m(0.5)},
               ("clean", "ipo"): {"kl_to_reference": m(9.0), "reward_mean": m(0.9)}}
    pts = frontier_points(summary, "mixed")
    assert [lab for lab, _, _ in pts["dpo"]] == ["dpo:beta=0.3", "dpo:beta=0.03"]
    assert [lab for lab, _, _ in pts["ipo"]] == ["ipo"] and len(pts) == 2
    frontier(pts, 0.3, "t", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_paired_win_rate_counts_ties_half_and_resamples_seeds_and_prompts():
    import numpy as np

    from mirrorpo.llm.metrics import paired_win_rate

    a = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    assert paired_win_rate(a, a - 1) == (1.0, 1.0, 1.0)
    assert paired_win_rate(a, a)[0] == 0.5
    b = np.array([[0.0, 3.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]])  # seed 0: 1, 0, ½, 0; seed 1: all
    mean, low, high = paired_win_rate(a, b)
    assert mean == pytest.approx((1.5 + 4) / 8) and low < mean < high
    with pytest.raises(ValueError, match="one shape"):
        paired_win_rate(a, b[:, :3])


UNIT_ARGS = ["--presets", "mixed", "--seeds", "2", "--steps", "2", "--batch-size", "2",
             "--max-length", "96", "--max-new-tokens", "6"]


@pytest.fixture(scope="module")
def tuned_dir(tiny_model_dir, tiny_data, tmp_path_factory):
    """`llm tune` of dpo over two β on the validation split (2 seeds × 2 points)."""
    out = tmp_path_factory.mktemp("llm-tune") / "tune"
    res = invoke("tune", "--data", tiny_data, "--model", tiny_model_dir, "--grid",
                 "dpo:beta=0.1|1", *UNIT_ARGS, "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_llm_tune_chooses_on_validation_and_resumes(tiny_model_dir, tiny_data, tuned_dir):
    from mirrorpo.llm.prompts import split_heldout

    held = json.loads((tiny_data / "heldout.json").read_text())["prompts"]
    val, _ = split_heldout(held)
    assert json.loads((tuned_dir / "config.json").read_text())["eval_split"] == "validation"
    evals = sorted(tuned_dir.glob("units/mixed/*/seed-*/eval.json"))
    assert [e.relative_to(tuned_dir / "units/mixed").as_posix() for e in evals] == [
        f"dpo-beta={b}/seed-{k}/eval.json" for b in ("0.1", "1") for k in (0, 1)]
    metrics = {e: json.loads(e.read_text()) for e in evals}
    assert {m["prompts"] for m in metrics.values()} == {len(val)}
    means = {b: sum(metrics[tuned_dir / f"units/mixed/dpo-beta={b}/seed-{k}/eval.json"]
                    ["reward_mean"] for k in (0, 1)) / 2 for b in ("0.1", "1")}
    tuned = json.loads((tuned_dir / "tuned.json").read_text())
    dpo = tuned["losses"]["dpo"]
    best = max(means, key=lambda b: (means[b], b == "0.1"))  # ties: the first point
    assert dpo["spec"] == f"dpo:beta={best}"
    assert dpo["criterion"]["mean"] == pytest.approx(means[best])
    assert dpo["grid_points"] == 2 and dpo["runs"] == 4 and dpo["optimizer_steps"] == 8
    assert [p["spec"] for p in dpo["grid"]] == ["dpo:beta=0.1", "dpo:beta=1"]
    assert tuned["seeds"] == [0, 1] and tuned["split"] == "validation"
    assert tuned["criterion"] == "reward" and tuned["train"]["steps"] == 2
    summary = (tuned_dir / "summary.md").read_text()
    assert summary.startswith("# LLM tuning (validation split)")
    assert f"| dpo | 2 | 4 | 8 | dpo:beta={best} |" in summary and "# LLM bench" in summary
    assert (tuned_dir / "plots" / "frontier_mixed.png").is_file()

    stamp = {e: e.stat().st_mtime_ns for e in evals}  # again, by win rate: nothing retrained
    res = invoke("tune", "--data", tiny_data, "--model", tiny_model_dir, "--grid",
                 "dpo:beta=0.1|1", *UNIT_ARGS, "--criterion", "win_rate", "--out", tuned_dir)
    assert res.exit_code == 0, res.output
    assert {e: e.stat().st_mtime_ns for e in evals} == stamp
    again = json.loads((tuned_dir / "tuned.json").read_text())
    assert again["criterion"] == "win_rate" and summary.count("# LLM tuning") == 1
    assert (tuned_dir / "summary.md").read_text().count("# LLM tuning") == 1
    for grid, why in (("nope:beta=1|2", "--grid: unknown loss 'nope'"),
                      ("dpo:beta=-1|1", "--grid: loss 'dpo': beta must be > 0")):
        res = invoke("tune", "--data", tiny_data, "--model", tiny_model_dir / "absent",
                     "--grid", grid, *UNIT_ARGS, "--out", tuned_dir.parent / "bad")
        assert res.exit_code == 2 and why in res.output  # before the model is looked at


def test_llm_tune_gains_a_loss_file_swept_over_beta(tiny_model_dir, tiny_data, tuned_dir,
                                                    tmp_path):
    """A finished tuning gains a loss (a loss file along its β axis): only its units train,
    tuned.json holds both losses; dropping a loss is refused."""
    import shutil

    out = tmp_path / "tune"
    shutil.copytree(tuned_dir, out)
    evals = sorted(out.glob("units/mixed/*/seed-*/eval.json"))
    stamp = {e: e.stat().st_mtime_ns for e in evals}
    loss = tmp_path / "best.json"
    MPOLoss("mpo", dpo_point(0.5)).save(loss)
    res = invoke("tune", "--data", tiny_data, "--model", tiny_model_dir, "--grid",
                 "dpo:beta=0.1|1", "--grid", f"{loss}:beta=0.05|0.5", *UNIT_ARGS, "--out", out)
    assert res.exit_code == 0, res.output
    assert {e: e.stat().st_mtime_ns for e in evals} == stamp  # dpo's units not retrained
    assert len(list(out.glob("units/mixed/*/seed-*/eval.json"))) == 8
    tuned = json.loads((out / "tuned.json").read_text())
    assert list(tuned["losses"]) == ["dpo", str(loss)]
    assert [p["spec"] for p in tuned["losses"][str(loss)]["grid"]] == [
        f"{loss}:beta=0.05", f"{loss}:beta=0.5"]
    res = invoke("tune", "--data", tiny_data, "--model", tiny_model_dir, "--grid",
                 f"{loss}:beta=0.05|0.5", *UNIT_ARGS, "--out", out)
    assert res.exit_code != 0 and "a bench may gain losses, not lose them" in res.output
    # the test bench runs the losses tuned so far, then gains the file at its chosen β when
    # tuned.json gains it (the LLM queue's order): only the new loss's units train
    test = ["bench", "--data", tiny_data, "--model", tiny_model_dir, "--eval-split", "test",
            "--seed-offset", "100", *UNIT_ARGS, "--out", tmp_path / "test"]
    res = invoke(*test, "--tuned", tuned_dir / "tuned.json")
    assert res.exit_code == 0, res.output
    first = {e: e.stat().st_mtime_ns for e in (tmp_path / "test").glob("units/*/*/*/eval.json")}
    res = invoke(*test, "--tuned", out / "tuned.json")
    assert res.exit_code == 0, res.output
    chosen = tuned["losses"][str(loss)]["spec"]
    assert chosen in json.loads((tmp_path / "test" / "config.json").read_text())["losses"]
    units = {e: e.stat().st_mtime_ns for e in (tmp_path / "test").glob("units/*/*/*/eval.json")}
    assert len(first) == 2 and len(units) == 4 and all(units[e] == t for e, t in first.items())


def test_llm_bench_tuned_on_test_split_draws_the_training_curve(
        tiny_model_dir, tiny_data, tuned_dir, tmp_path):
    from mirrorpo.llm.prompts import split_heldout

    held = json.loads((tiny_data / "heldout.json").read_text())["prompts"]
    _, test = split_heldout(held)
    chosen = json.loads((tuned_dir / "tuned.json").read_text())["losses"]["dpo"]["spec"]
    out = tmp_path / "test"
    args = ["bench", "--data", tiny_data, "--model", tiny_model_dir, "--tuned",
            tuned_dir / "tuned.json", "--eval-split", "test", "--seed-offset", "100",
            "--eval-steps", "1", *UNIT_ARGS, "--out", out]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["losses"] == [chosen]
    label = chosen.replace(":", "-")
    for k in (100, 101):
        m = json.loads((out / "units" / "mixed" / label / f"seed-{k}" / "eval.json").read_text())
        assert m["prompts"] == len(test) and m["seed"] == k
        assert [p["step"] for p in m["curve"]] == [1, 2]
        assert m["curve"][-1]["reward_mean"] == m["reward_mean"]
        assert m["curve"][-1]["win_rate"] == m["win_rate"]
        assert m["curve"][-1]["rewards"] == m["rewards"]
        assert all(len(p["rewards"]) == m["prompts"] for p in m["curve"])
    assert (out / "plots" / "curve_mixed.png").stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    assert "### curve: mixed" in summary and "| step 1 | step 2 |" in summary

    def refused(*change):
        given = list(args)
        for flag, value in zip(change[::2], change[1::2], strict=True):
            given[given.index(flag) + 1] = value
        res = invoke(*given[:-1], tmp_path / "other")
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        return res.output

    assert "--seed-offset: seeds 0..1 were tuning seeds" in refused("--seed-offset", "0")
    assert "--eval-split: " in refused("--eval-split", "validation")
    assert "--eval-steps: each must be below --steps (2" in refused("--eval-steps", "2")
    assert "train.steps: 2 (tuned) vs 3 (given)" in refused("--steps", "3")
    res = invoke("bench", "--data", tiny_data, "--model", tiny_model_dir, "--out", tmp_path / "x")
    assert res.exit_code == 2 and "give --losses, or --tuned" in res.output


def test_llm_bench_curve_does_not_disturb_training(tiny_model_dir, tiny_data, tuned_dir,
                                                   tmp_path):
    """A unit evaluated at step 1 from inside its training ends exactly as the tuning's unit
    of the same spec, seed and split that was not (same loss, same final judged samples)."""
    import mirrorpo.llm as ml

    cfg = ml.LLMBenchConfig(data=tiny_data, model=tiny_model_dir, losses=("dpo:beta=1",),
                            presets=("mixed",), seeds=2, eval_split="validation",
                            eval_steps=(1,), eval=ml.LLMEvalConfig(max_new_tokens=6),
                            train=ml.LLMBenchTrainConfig(steps=2, batch_size=2, max_length=96))
    ml.bench(cfg, tmp_path / "curve")
    for k in (0, 1):
        a, b = (json.loads((d / "units/mixed/dpo-beta=1" / f"seed-{k}" / "eval.json")
                           .read_text()) for d in (tmp_path / "curve", tuned_dir))
        assert [p["step"] for p in a["curve"]] == [1, 2] and "curve" not in b
        assert a["final_loss"] == b["final_loss"] and a["rewards"] == b["rewards"]


def test_llm_eval_on_one_split(tiny_model_dir, tiny_data, tmp_path):
    from mirrorpo.llm.prompts import split_heldout

    held = json.loads((tiny_data / "heldout.json").read_text())["prompts"]
    _, test = split_heldout(held)
    res = invoke("eval", "--reference", tiny_model_dir, "--data", tiny_data, "--eval-split",
                 "test", "--max-new-tokens", "4", "--out", tmp_path / "eval.json")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "eval.json").read_text())
    assert m["split"] == "test" and m["prompts"] == len(test) < len(held)


def test_unit_claim_is_exclusive_and_freed_when_its_holder_dies(tmp_path):
    import subprocess
    import sys

    from mirrorpo.llm.benchmark import unit_claim

    udir = tmp_path / "units" / "mixed" / "dpo" / "seed-0"
    with unit_claim(udir) as first, unit_claim(udir) as second:
        assert first and not second
    with unit_claim(udir) as again:
        assert again
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from mirrorpo.llm.benchmark import unit_claim\n"
         f"with unit_claim(Path({str(udir)!r})) as mine:\n"
         "    print(mine, flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    with unit_claim(udir) as mine:
        assert not mine
    holder.kill()
    holder.wait()
    with unit_claim(udir) as mine:
        assert mine


def test_two_processes_share_a_bench_and_train_each_unit_once(tiny_model_dir, tiny_data,
                                                              tmp_path):
    import subprocess
    import sys

    out = tmp_path / "bench"
    cmd = [sys.executable, "-c", "from mirrorpo.cli import main; main()", "llm", "bench",
           "--data", str(tiny_data), "--presets", "mixed", "--losses", "dpo,ipo",
           "--model", str(tiny_model_dir), "--seeds", "2", "--steps", "2", "--batch-size", "2",
           "--max-length", "96", "--max-new-tokens", "6", "--threads", "1", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trained = [line for o in outputs for line in o.splitlines() if ": win rate " in line]
    assert len(trained) == 4, outputs  # each of the 2 losses × 2 seeds, by one process
    assert len(list(out.glob("units/mixed/*/seed-*/eval.json"))) == 4
    summary = (out / "summary.md").read_text()
    assert "| ipo | " in summary and "| dpo | " in summary
    assert not list(out.rglob("*.tmp"))
