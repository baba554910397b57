"""benchmarks/llm_gpu.py (the GPU recipe of the LLM bench): its plan, its commands, the
carried model's parts, its deadline, and every phase end to end on the CPU with a tiny Llama
(the real SmolLM2 `--cpu-smoke` takes minutes on 2 cores and is run by hand)."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "llm_gpu.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("llm_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_plan_is_the_scaled_up_bench(recipe):
    from mirrorpo.losses import LOSSES

    p = recipe.GPU
    assert set(p["losses"]) <= set(LOSSES) and len(p["losses"]) == 4
    assert (p["lora"], p["bf16"], p["device"], p["prompt_set"]) == (False, True, "cuda", "v2")
    assert p["seeds"] == 5 and p["max_prompts"] is None and p["preset"] == "mixed"
    assert p["budget_s"] + 40 <= 470 < 480  # the shell's hard cap stays under 8 minutes
    cost = recipe.COST["gpu"]
    left = p["budget_s"] - p["reserve_s"] - cost["model_s"] - cost["data_s"]
    steps, seeds = recipe.choose_steps(p, cost, left)
    assert seeds == 5 and p["min_steps"] <= steps <= p["max_steps"] and steps % 50 == 0
    assert steps > 16  # more than the CPU bench of docs/results.md


def test_choose_steps_shrinks_steps_then_seeds(recipe):
    p, cost = recipe.GPU, recipe.COST["gpu"]
    plans = [recipe.choose_steps(p, cost, s) for s in (2000, 400, 300, 200, 150, 60)]
    assert plans[0] == (p["max_steps"], 5)  # capped
    steps = [s for s, _ in plans]
    seeds = [k for _, k in plans]
    assert steps[:3] == sorted(steps[:3], reverse=True)
    assert all(s >= p["min_steps"] for s in steps) and seeds == sorted(seeds, reverse=True)
    assert seeds[-1] == p["min_seeds"] and steps[-1] == p["min_steps"]  # no time: the floor
    for seconds, (s, k) in zip((400, 300, 200, 150), plans[1:5], strict=True):
        per_seed = cost["reference_s"] + cost["unit_fixed_s"] + cost["eval_s"]
        assert cost["process_start_s"] + k * (per_seed + s * cost["step_s"]) <= seconds + 1e-6


def test_dry_run_prints_every_command():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    cmds = [ln[2:] for ln in proc.stdout.splitlines() if ln.startswith("$ ")]
    assert [c.split()[4] for c in cmds] == ["model", "data"] + ["bench"] * 4
    assert "--prompt-set v2" in cmds[1] and "--batch-size 128" in cmds[1]
    plan = json.loads(proc.stdout[:proc.stdout.index("\n$ ")])
    for loss, cmd in zip(("dpo", "ipo", "orpo", "simpo"), cmds[2:], strict=True):
        assert f"--losses {loss} " in cmd and "--no-lora --bf16" in cmd
        assert f"--seeds {plan['seeds']} --steps {plan['steps']} " in cmd
        assert "--threads 4" in cmd  # 16 cores shared by the 4 processes


def test_gguf_parts_round_trip(recipe, tmp_path):
    src = tmp_path / "model.gguf"
    src.write_bytes(bytes(range(256)) * 4000)
    parts = recipe.split_compressed(src, tmp_path / "carry", lighter_by=100)
    assert parts[1].stat().st_size - parts[0].stat().st_size in (100, 101)
    out = recipe.join_parts(parts, tmp_path / "carry" / "gguf.sha256", tmp_path / "x.gguf")
    assert out.read_bytes() == src.read_bytes()
    (tmp_path / "carry" / "gguf.sha256").write_text("0" * 64)
    with pytest.raises(SystemExit, match="sha256"):
        recipe.join_parts(parts, tmp_path / "carry" / "gguf.sha256", tmp_path / "y.gguf")


def test_runner_stops_a_command_at_its_deadline(recipe, tmp_path):
    runner = recipe.Runner(tmp_path, {"x": 1})
    t0 = time.perf_counter()
    assert runner.run(["sleep", "30"], time.perf_counter() + 1, "sleep") is None
    assert time.perf_counter() - t0 < 15 and runner.procs[0].poll() is not None
    assert runner.run([sys.executable, "-c", "pass"], time.perf_counter() + 60, "py") >= 0
    with pytest.raises(SystemExit, match="false failed"):
        runner.run(["false"], time.perf_counter() + 60, "false")
    runner.save()
    assert json.loads((tmp_path / "llm_gpu.json").read_text()) == {"x": 1}


@pytest.mark.e2e
def test_cpu_smoke_on_a_tiny_llama(char_tokenizer, tiny_llama, tmp_path):
    """Every phase but the GGUF conversion (a tiny Llama stands in for SmolLM2): data, one
    bench process per loss side by side, the merged summary and the results folder."""
    pytest.importorskip("trl", reason="the llm extra (trl, transformers) is not installed")
    model = tmp_path / "tiny-llama"
    tok = char_tokenizer(chat=True)
    tiny_llama(tok).save_pretrained(model)
    tok.save_pretrained(model)
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--model", str(model),
                           "--work", str(tmp_path / "work"), "--results", str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rec = json.loads((results / "llm_gpu.json").read_text())
    assert rec["mode"] == "cpu-smoke" and rec["cut"] == []
    assert rec["bench"] == {"steps": 1, "seeds": 2, "losses": ["dpo", "simpo"],
                            "preset": "mixed", "parallel_processes": 2}
    bench = rec["phases"]["bench"]
    assert bench["exit_codes"] == {"dpo": 0, "simpo": 0}
    assert bench["units_finished"] == {"dpo": 2, "simpo": 2}
    assert rec["phases"]["data"]["pairs"] >= 1 and rec["phases"]["data"]["heldout_prompts"] == 4
    assert rec["reference_samples_identical_across_processes"] is True
    assert {(u["loss"], u["seed"], u["steps"]) for u in rec["units"]} == {
        ("dpo", 0, 1), ("dpo", 1, 1), ("simpo", 0, 1), ("simpo", 1, 1)}
    assert rec["measured_cost"]["step_s"] > 0 and rec["measured_cost"]["eval_s"] > 0
    summary = (results / "summary.md").read_text()
    assert "| dpo |" in summary and "| simpo |" in summary and "against dpo" in summary
    files = {f.name for f in results.iterdir()}
    assert files == {"llm_gpu.json", "summary.md", "summary.csv", "units.csv", "cards.json",
                     "win_rate_mixed.png", "frontier_mixed.png"}  # + the log: 8 come back
    assert len((results / "units.csv").read_text().splitlines()) == 5
