"""LLM training throughput: an MPO loss through MirrorPOTrainer against TRL's own sigmoid loss.

Both trainers start from copies of the same model, train on the same rows with the same seed
(hence the same batches) and the same settings; only the loss differs: TRL's ``sigmoid`` in
``DPOTrainer`` against the MPO family at its DPO point in ``MirrorPOTrainer``. They alternate
in rounds, so machine load hits both alike; tokens/s is prompt + response tokens of the
batches over the median wall time per round. Target: MPO within 5% of TRL.

    python benchmarks/bench_llm.py --model runs/llm/smollm2 [--data runs/llm/data/mixed.jsonl]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from mirrorpo.llm.data import load_preferences
from mirrorpo.llm.model import load_model, offline
from mirrorpo.losses.mpo import MPOLoss, dpo_point


def synthetic_rows(n: int) -> list[dict]:
    from mirrorpo.llm.prompts import TOPICS, make_prompts

    good = "It was a lovely experience and I would happily do it again with friends."
    bad = "It was fine, nothing special, and I do not really remember much about it."
    return [{"prompt": [{"role": "user", "content": p}],
             "chosen": [{"role": "assistant", "content": good}],
             "rejected": [{"role": "assistant", "content": bad}]}
            for p in make_prompts(list(TOPICS))[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=None, help="preference rows [default: synthetic]")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    offline()
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from mirrorpo.llm.trainer import MirrorPOTrainer

    torch.set_num_threads(2)
    model, tok = load_model(args.model)
    n = args.steps * args.batch_size
    data = (load_preferences(args.data).select(range(n)) if args.data
            else Dataset.from_list(synthetic_rows(n)))
    cfg = dict(output_dir="/tmp/bench-llm", use_cpu=True, bf16=False, fp16=False,
               activation_checkpointing=False, per_device_train_batch_size=args.batch_size,
               max_steps=args.steps, max_length=args.max_length, learning_rate=5e-6,
               logging_steps=args.steps, report_to="none", save_strategy="no", seed=0,
               disable_tqdm=True)
    ref = copy.deepcopy(model).eval()
    mpo = MPOLoss("mpo", dpo_point())

    def run(kind: str) -> tuple[float, int]:
        policy = copy.deepcopy(model)
        if kind == "trl":
            trainer = DPOTrainer(model=policy, ref_model=ref, args=DPOConfig(**cfg),
                                 train_dataset=data, processing_class=tok)
        else:
            trainer = MirrorPOTrainer(model=policy, ref_model=ref, args=DPOConfig(**cfg),
                                      train_dataset=data, processing_class=tok, loss=mpo)
        tokens = sum(int(b["attention_mask"].sum()) for b in trainer.get_train_dataloader())
        t0 = time.perf_counter()
        trainer.train()
        return time.perf_counter() - t0, tokens

    times = {"trl": [], "mpo": []}
    tokens = {}
    for _ in range(args.rounds):
        for kind in ("trl", "mpo"):
            t, tokens[kind] = run(kind)
            times[kind].append(t)
    assert tokens["trl"] == tokens["mpo"], "the two trainers saw different batches"
    print(f"{args.model}: {args.rounds} rounds × {args.steps} steps of {args.batch_size} pairs, "
          f"{tokens['trl']} tokens per round (chosen + rejected rows)")
    rate = {k: tokens[k] / statistics.median(v) for k, v in times.items()}
    for k in ("trl", "mpo"):
        print(f"  {k:4s} median {statistics.median(times[k]):6.1f} s/round, {rate[k]:7.1f} "
              f"tokens/s (rounds: {', '.join(f'{t:.1f}' for t in times[k])})")
    print(f"  MPO / TRL throughput: {rate['mpo'] / rate['trl']:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
