"""GPU check (issue 17, item 5): population training and policy evaluation on CUDA vs the CPU.

Makes its own dataset (`mirrorpo data make`, Hopper `noisy-20`, H = 300), then measures:

  0. agreement: 4 MPO members × 20 steps trained on the device and on the CPU from the same
     seeds (max |Δθ|; the padded path too), and the torch actor on the device against the
     numpy actor (max |Δa| on dataset states; returns of a 200-step rollout of each);
  1. population-batched vs sequential training of 32 MPO members (bench_fitness.py's ES
     population around DPO, default TrainConfig) on the device: steps/s and the ratio; and
     the batched step with all members in one chunk (``chunk_rows`` sized for CPU caches
     splits them into chunks of 6, each a round of small kernel launches on a GPU);
  2. the same 32-member step on the CPU (all cores, and 2 threads as in docs/scaling.md): the
     CPU/device time ratio;
  3. one fitness evaluation on the device: 32 members × 1000 steps, 10 episodes each (sampled
     actions, as the search's fitness), wall time split training / evaluation, and the
     evaluation again with the numpy actor. If phase 1 projects more training time than is
     left of ``--budget-s``, fewer steps are run and the 1000-step time is projected.

Step times are medians over steps after a warm-up, synchronised with the device. Step cost
does not depend on the number of pairs (rows per step = members × 2·batch_pairs × H), so the
dataset is smaller than the benchmark's 5120 pairs by default (making it is simulation: 2
threads, about 35 s per 1024 pairs). Everything is printed; the figures go to
``$OUT/gpu_check.json`` (or ``--json``), rewritten after every phase so that a run cut short
keeps what it measured.

    bash benchmarks/gpu_check.sh                # on a machine with one GPU, <= 8 minutes
    python benchmarks/gpu_check.py --cpu-smoke  # every path on the CPU at tiny sizes, < 60 s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fitness import es_population  # noqa: E402

from mirrorpo.assets import load_reference  # noqa: E402
from mirrorpo.data.dataset import load_dataset  # noqa: E402
from mirrorpo.envs import get_spec  # noqa: E402
from mirrorpo.evaluation import NormalisedScorer, stacked_actor, torch_actor  # noqa: E402
from mirrorpo.rollout import reset_states, run_rollouts  # noqa: E402
from mirrorpo.training.population import TrainConfig, train_population  # noqa: E402

FULL = dict(pairs=1024, horizon=300, members=32, agree_members=4, agree_steps=20,
            timing_steps=30, cpu_steps=8, fitness_steps=1000, episodes=10, rollout_steps=200)
SMOKE = dict(pairs=32, horizon=40, members=4, agree_members=2, agree_steps=3,
             timing_steps=5, cpu_steps=4, fitness_steps=4, episodes=2, rollout_steps=20)
EVAL_SEED = 600_000  # bench_fitness.py's


def make_data(out: Path, pairs: int, horizon: int) -> float:
    """`mirrorpo data make` of Hopper noisy-20 into ``out``; returns its wall time."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mirrorpo.cli", "data", "make", "--env", "hopper",
                    "--preset", "noisy-20", "--pairs", str(pairs), "--horizon", str(horizon),
                    "--out", str(out), "--force"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_train(ref, arrays, losses, cfg: TrainConfig) -> tuple[float, float, object]:
    """(median seconds per step after 2 warm-up steps, total seconds, TrainResult)."""
    stamps: list[float] = []

    def stamp(_: int) -> None:
        sync(cfg.device)
        stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    res = train_population(ref, arrays, losses, [0] * len(losses), cfg, progress=stamp)
    total = time.perf_counter() - t0
    steps = np.diff(stamps)[2:] if len(stamps) > 3 else np.diff([t0, *stamps])
    return float(np.median(steps)), total, res


def max_diff(a, b) -> float:
    """max |a − b| over the parameters of two policy stacks."""
    pairs = [*zip(a.weights, b.weights, strict=True), *zip(a.biases, b.biases, strict=True),
             (a.log_std, b.log_std)]
    return float(max(np.abs(x - y).max() for x, y in pairs))


def agreement(ref, arrays, spec, device: str, n: dict) -> dict:
    """Phase 0: the device's training and actor against the CPU's."""
    losses = es_population("mpo", n["agree_members"], 0.1, 0)
    out = {}
    for padded in (False, True):
        steps = n["agree_steps"] if not padded else max(2, n["agree_steps"] // 4)
        runs = [train_population(ref, arrays, losses, [0] * len(losses),
                                 TrainConfig(steps=steps, skip_padding=not padded, device=d))
                for d in (device, "cpu")]
        key = "padded" if padded else "valid_rows"
        out[f"train_{key}_max_abs_param_diff"] = max_diff(*(r.policy.to_stack() for r in runs))
        out[f"train_{key}_max_abs_loss_diff"] = float(np.abs(
            runs[0].log.loss[-1] - runs[1].log.loss[-1]).max())
        stack = runs[0].policy.to_stack()  # trained on the device
    k = 8
    obs = arrays["chosen_obs"][:stack.size * k, 0].astype(np.float64)
    noise = np.random.default_rng(0).standard_normal((len(obs), spec.act_dim))
    a_dev = torch_actor(stack, k, device)(obs, noise)
    a_np = stacked_actor(stack, k)(obs, noise)
    out["actor_max_abs_action_diff"] = float(np.abs(a_dev - a_np).max())
    qpos, qvel = reset_states(spec, np.tile(EVAL_SEED + np.arange(k), stack.size))
    rets = [run_rollouts(spec, actor, qpos, qvel, n["rollout_steps"],
                         [np.random.default_rng([EVAL_SEED, j]) for j in range(k)],
                         stream_index=np.tile(np.arange(k), stack.size)).returns
            for actor in (torch_actor(stack, k, device), stacked_actor(stack, k))]
    out["rollout_max_abs_return_diff"] = float(np.abs(rets[0] - rets[1]).max())
    return out


def batched_vs_sequential(ref, arrays, device: str, n: dict) -> dict:
    """Phase 1: one step of 32 members together against 32 × one member's step."""
    losses = es_population("mpo", n["members"], 0.1, 0)
    t_pop, _, _ = timed_train(ref, arrays, losses, TrainConfig(steps=n["timing_steps"],
                                                                device=device))
    t_one, _, _ = timed_train(ref, arrays, losses[:1], TrainConfig(steps=n["timing_steps"],
                                                                    device=device))
    one_chunk = TrainConfig(steps=n["timing_steps"], device=device, chunk_rows=10**9)
    t_chunk, _, _ = timed_train(ref, arrays, losses, one_chunk)
    return {"members": n["members"], "batched_s_per_step": t_pop,
            "batched_steps_per_s": 1 / t_pop, "one_member_s_per_step": t_one,
            "sequential_s_per_step": t_one * n["members"],
            "batched_speedup": t_one * n["members"] / t_pop,
            "batched_one_chunk_s_per_step": t_chunk}


def cpu_step(ref, arrays, n: dict, threads: int) -> float:
    """Phase 2: the 32-member step on the CPU with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        losses = es_population("mpo", n["members"], 0.1, 0)
        t, _, _ = timed_train(ref, arrays, losses, TrainConfig(steps=n["cpu_steps"]))
    finally:
        torch.set_num_threads(before)
    return t


def fitness(ref, arrays, device: str, steps: int, n: dict, nthread: int) -> dict:
    """Phase 3: one fitness evaluation, training then scoring, wall time of each."""
    losses = es_population("mpo", n["members"], 0.1, 0)
    t0 = time.perf_counter()  # no synchronisation per step here, as in a real run
    res = train_population(ref, arrays, losses, [0] * len(losses),
                           TrainConfig(steps=steps, device=device))
    stack = res.policy.to_stack()
    t_train = time.perf_counter() - t0
    out = {"steps": steps, "train_s": t_train, "train_s_per_step": t_train / steps,
           "failed_members": int(res.failed.sum())}
    for where in dict.fromkeys((device, "cpu")):  # the device's actor, then numpy's
        scorer = NormalisedScorer.for_env("hopper", n["episodes"], mean_action=False,
                                          nthread=nthread, device=where)
        t0 = time.perf_counter()
        scores, _ = scorer(stack, EVAL_SEED)
        out[f"eval_{where}_actor_s"] = time.perf_counter() - t0
        out[f"eval_{where}_actor_mean_score"] = float(scores.mean())
    out["total_s"] = t_train + out[f"eval_{device}_actor_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="every path on the CPU at tiny sizes (tests/test_device.py)")
    ap.add_argument("--data", type=Path, default=None,
                    help="an existing Hopper dataset [default: make one]")
    ap.add_argument("--pairs", type=int, default=None, help="pairs of the dataset made")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="wall-time budget of the whole check (phase 3 shrinks to fit)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="torch CPU and MuJoCo threads")
    ap.add_argument("--json", type=Path, default=None,
                    help="where the figures go [default: $OUT/gpu_check.json if $OUT is set]")
    args = ap.parse_args()
    t_start = time.perf_counter()
    n = SMOKE if args.cpu_smoke else FULL
    device = "cpu" if args.cpu_smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: no GPU visible to torch {torch.__version__} (CUDA build "
                 f"{torch.version.cuda}); use --cpu-smoke for the CPU dry run")
    json_path = args.json or (Path(os.environ["OUT"]) / "gpu_check.json"
                              if os.environ.get("OUT") else None)
    torch.set_num_threads(args.threads)
    figures: dict = {"mode": "cpu-smoke" if args.cpu_smoke else "gpu", "device": device,
                     "torch": torch.__version__, "cuda": torch.version.cuda,
                     "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
                     "cpu_count": os.cpu_count(), "threads": args.threads,
                     "machine": platform.node()}

    def save(phase: str, values: dict) -> None:
        figures[phase] = values
        figures["elapsed_s"] = time.perf_counter() - t_start
        for k, v in values.items():
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}", flush=True)
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(figures, indent=1))

    print(f"gpu_check: {figures['mode']} on {figures['gpu'] or 'cpu'}, torch {torch.__version__}"
          f", {args.threads} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        made = None
        if data is None:
            data = Path(tmp) / "hopper-noisy-20"
            print("dataset: mirrorpo data make ...", flush=True)
            made = make_data(data, args.pairs or n["pairs"], n["horizon"])
        ds = load_dataset(data)
        ref, spec = load_reference(ds.card["env"]), get_spec(ds.card["env"])
        save("dataset", {"pairs": len(ds.arrays["chosen_length"]), "horizon": ds.card["horizon"],
                         "mean_segment_length": ds.card["properties"]["mean_segment_length"],
                         "make_s": made})

        print(f"0. agreement, {device} vs cpu", flush=True)
        save("agreement", agreement(ref, ds.arrays, spec, device, n))

        print(f"1. batched vs sequential training on {device}", flush=True)
        save("batched_vs_sequential", batched_vs_sequential(ref, ds.arrays, device, n))
        t_dev = figures["batched_vs_sequential"]["batched_s_per_step"]

        print("2. the same step on the cpu", flush=True)
        cpu = {}
        for threads in dict.fromkeys((args.threads, 2)):
            cpu[f"cpu_{threads}_threads_s_per_step"] = t = cpu_step(ref, ds.arrays, n, threads)
            cpu[f"cpu_{threads}_threads_over_{device}"] = t / t_dev
        save("cpu", cpu)

        left = args.budget_s - (time.perf_counter() - t_start)
        reserve = 60.0 if not args.cpu_smoke else 0.0  # two evaluation passes
        steps = n["fitness_steps"]
        if steps * t_dev * 1.15 > left - reserve:
            steps = max(10, int((left - reserve) / (t_dev * 1.15)))
        print(f"3. one fitness evaluation on {device}: {n['members']} members × {steps} steps,"
              f" {n['episodes']} episodes", flush=True)
        fit = fitness(ref, ds.arrays, device, steps, n, args.threads)
        if steps != n["fitness_steps"]:
            fit["projected_train_s_1000_steps"] = fit["train_s_per_step"] * 1000
        if device == "cuda":
            fit["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        save("fitness", fit)
    print(f"done in {time.perf_counter() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
