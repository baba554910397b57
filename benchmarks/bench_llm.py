"""LLM training throughput: an MPO loss through MirrorPOTrainer against TRL's own sigmoid loss.

Both trainers start from copies of the same model, train on the same rows with the same seed
(hence the same batches) and the same settings; only the loss differs: TRL's ``sigmoid`` in
``DPOTrainer`` against the MPO family at its DPO point in ``MirrorPOTrainer``. They alternate
in rounds, so machine load hits both alike; tokens/s is prompt + response tokens of the
batches over the median wall time per round. Target: MPO within 5% of TRL.

The speed part compares today's LoRA configuration of ``llm bench`` (adapters on q/k/v/o of
every layer, a reference forward per step) with the fast one (adapters on the top N layers
only, ``lora_layers``, and the reference log-likelihoods precomputed from a warm cache,
``precompute_ref``) for each N of --lora-layers, all through ``build_trainer`` with the MPO
loss; only ``trainer.train()`` is timed, so the cached precompute (and the model hashing that
keys it) is not counted: its one-time cost, on a cold cache, and the per-run setup on a warm
one are printed apart. It also checks that backprop stops below the adapted layers, and times
TRL's own DPOTrainer (sigmoid) under the fast configuration for the MPO / TRL ratio there.
Targets: fast / today >= 3, MPO / TRL >= 0.98.

    python benchmarks/bench_llm.py --model runs/llm/smollm2 [--data runs/llm/data/mixed.jsonl]
        [--parts loss,speed] [--lora-layers 2,4,8] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from mirrorpo.llm.data import load_preferences
from mirrorpo.llm.model import load_model, offline
from mirrorpo.losses.mpo import MPOLoss, dpo_point
from mirrorpo.losses.resolve import resolve_loss


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
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--parts", default="loss,speed",
                    help="comma-separated: loss (MPO vs TRL, full fine-tuning), speed (today's "
                         "LoRA vs lora_layers + precompute_ref), ratio (the fastest "
                         "configuration only: MPO, registry dpo and TRL, for the ratio)")
    ap.add_argument("--lora-layers", default="2,4,8", help="N of the fast configurations")
    args = ap.parse_args()
    offline()
    from datasets import Dataset

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model)
    n = args.steps * args.batch_size
    data = (load_preferences(args.data).select(range(n)) if args.data
            else Dataset.from_list(synthetic_rows(n)))
    parts = set(args.parts.split(","))
    if "loss" in parts:
        loss_comparison(args, model, tok, data)
    if "speed" in parts:
        speed_comparison(args, model, tok, data,
                         [int(x) for x in args.lora_layers.split(",")])
    if "ratio" in parts:
        ratio_comparison(args, model, tok, data, int(args.lora_layers.split(",")[0]))


def loss_comparison(args, model, tok, data) -> None:
    """MPO (MirrorPOTrainer) against TRL's sigmoid (DPOTrainer): full fine-tuning, a reference
    copy, the same batches."""
    from trl import DPOConfig, DPOTrainer

    from mirrorpo.llm.trainer import MirrorPOTrainer

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


def train_tokens(trainer) -> int:
    """Prompt + response tokens (chosen and rejected rows) of the training batches."""
    return sum(int(b["attention_mask"].sum()) for b in trainer.get_train_dataloader())


def grad_layers(trainer) -> list[int]:
    """Decoder layers whose outputs carry gradients in one training forward (where backprop
    goes), with transformers' input-grads hook checked absent."""
    model = trainer.model
    decoder = model.get_base_model().model
    assert getattr(decoder.embed_tokens, "_require_grads_hook", None) is None
    assert getattr(model.get_base_model(), "_require_grads_hook", None) is None
    carries = set()

    def record(i):
        def hook(module, inputs, output):
            hidden = output[0] if isinstance(output, tuple) else output
            if hidden.requires_grad:
                carries.add(i)
        return hook

    handles = [layer.register_forward_hook(record(i)) for i, layer in enumerate(decoder.layers)]
    model.train()
    try:
        trainer.compute_loss(model, next(iter(trainer.get_train_dataloader())))
    finally:
        for h in handles:
            h.remove()
    return sorted(carries)


def trl_trainer(policy, tok, data, cfg, out: Path):
    """TRL's own DPOTrainer (sigmoid) with the LoRA and DPOConfig of ``cfg``, its reference
    precompute inside the compact-head scope, as MirrorPOTrainer's; TRL's printer off, as
    build_trainer does."""
    from transformers import PrinterCallback
    from trl import DPOTrainer

    from mirrorpo.llm.run import dpo_config, lora_config
    from mirrorpo.llm.trainer import completion_positions_only

    with completion_positions_only():
        trainer = DPOTrainer(model=policy, args=dpo_config(cfg, out), train_dataset=data,
                             processing_class=tok,
                             peft_config=lora_config(cfg, policy.config.num_hidden_layers))
    trainer.remove_callback(PrinterCallback)
    return trainer


def speed_comparison(args, model, tok, data, layer_counts: list[int]) -> None:
    """Today's LoRA (all layers, reference forward per step) against lora_layers=N with
    precompute_ref from a warm cache, the fewest N also with compact_head (the LM head on the
    completion positions only); and MPO / TRL under that fastest configuration (TRL's
    DPOTrainer inside the same head scope)."""

    from mirrorpo.llm.config import LLMTrainConfig
    from mirrorpo.llm.run import build_trainer
    from mirrorpo.llm.trainer import MirrorPOTrainer, completion_positions_only

    work = Path(tempfile.mkdtemp(prefix="bench-llm-speed-"))
    cache = work / "ref_cache"
    mpo = resolve_loss(MPOLoss("mpo", dpo_point()))
    today = LLMTrainConfig(steps=args.steps, batch_size=args.batch_size, lora=True,
                           max_length=args.max_length, seed=0)
    configs = {"today": today} | {f"fast-{k}": replace(today, lora_layers=k, precompute_ref=True)
                                  for k in layer_counts}
    ratio_at = min(layer_counts)  # the fewest layers: the loss's own cost weighs most there
    fastest = f"fast-{ratio_at}+head"
    configs[fastest] = replace(configs[f"fast-{ratio_at}"], compact_head=True)
    num_layers = model.config.num_hidden_layers

    def build(kind: str, ref_cache=cache):
        policy = copy.deepcopy(model)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        if kind == "trl-fast":
            trainer = trl_trainer(policy, tok, data, configs[fastest], work / kind)
        else:
            trainer = build_trainer(policy, tok, data, mpo, configs[kind], work / kind,
                                    ref_cache=ref_cache)
        assert isinstance(trainer, MirrorPOTrainer) == (kind != "trl-fast")
        return trainer, time.perf_counter() - t0

    _, cold = build(f"fast-{ratio_at}", ref_cache=work / "cold")  # the one-time precompute
    kinds = [*configs, "trl-fast"]
    times = {k: [] for k in kinds}
    setup = {k: [] for k in kinds}
    tokens, reach = {}, {}
    for r in range(args.rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            trainer, s = build(kind)
            setup[kind].append(s)
            tokens[kind] = train_tokens(trainer)
            t0 = time.perf_counter()
            if kind == "trl-fast":
                with completion_positions_only():
                    trainer.train()
            else:
                trainer.train()
            times[kind].append(time.perf_counter() - t0)
            if r == 0:
                reach[kind] = grad_layers(trainer)
            del trainer
    assert len(set(tokens.values())) == 1, f"the trainers saw different batches: {tokens}"
    ntok = tokens["today"]
    rate = {k: ntok / statistics.median(v) for k, v in times.items()}
    print(f"speed: {args.rounds} rounds × {args.steps} LoRA steps of {args.batch_size} pairs "
          f"(max_length {args.max_length}), {ntok} tokens per round, MPO loss, "
          f"{torch.get_num_threads()} torch thread(s)")
    for k in kinds:
        span = f"{reach[k][0]}..{reach[k][-1]}" if reach[k] else "none"
        print(f"  {k:14s} median {statistics.median(times[k]):6.1f} s/round, {rate[k]:7.1f} "
              f"tokens/s, {rate[k] / rate['today']:5.2f}× today; setup "
              f"{statistics.median(setup[k]):5.1f} s; backprop through layers {span} of "
              f"{num_layers} (rounds: {', '.join(f'{t:.1f}' for t in times[k])})")
    warm = statistics.median(setup[f"fast-{ratio_at}"])
    print(f"  precompute_ref on a cold cache: setup {cold:.1f} s against {warm:.1f} s warm "
          f"(one-time cost {cold - warm:.1f} s per preset; the warm setup hashes the base "
          "weights and reads the cache)")
    best = max(layer_counts, key=lambda k: rate[f"fast-{k}"])
    print("  fast / today: " + ", ".join(f"N={k} {rate[f'fast-{k}'] / rate['today']:.2f}×"
                                          for k in layer_counts)
          + f" (target >= 3; best N={best})")
    print(f"  {fastest} (compact_head too): {rate[fastest] / rate['today']:.2f}× today")
    print(f"  MPO / TRL throughput at N={ratio_at} with precompute_ref and compact_head: "
          f"{rate[fastest] / rate['trl-fast']:.3f} (target >= 0.98)")


def ratio_comparison(args, model, tok, data, layers: int) -> None:
    """MPO / TRL throughput under the fastest configuration alone (top ``layers`` LoRA,
    precompute_ref from a warm cache, compact_head), with a third trainer, MirrorPOTrainer
    with the registry's ``dpo``, that separates the MPO loss's own cost (MPO vs registry dpo)
    from the trainer's (registry dpo vs TRL). Rounds alternate the order, as above."""

    from mirrorpo.llm.config import LLMTrainConfig
    from mirrorpo.llm.run import build_trainer
    from mirrorpo.llm.trainer import completion_positions_only

    work = Path(tempfile.mkdtemp(prefix="bench-llm-ratio-"))
    cfg = LLMTrainConfig(steps=args.steps, batch_size=args.batch_size, lora=True,
                         max_length=args.max_length, seed=0, lora_layers=layers,
                         precompute_ref=True, compact_head=True)
    losses = {"mpo": resolve_loss(MPOLoss("mpo", dpo_point())), "dpo": resolve_loss("dpo")}

    def build(kind: str):
        policy = copy.deepcopy(model)
        torch.manual_seed(0)
        if kind == "trl":
            return trl_trainer(policy, tok, data, cfg, work / kind)
        return build_trainer(policy, tok, data, losses[kind], cfg, work / kind,
                             ref_cache=work / "ref_cache")

    build("mpo")  # warms the reference cache
    kinds = ["mpo", "dpo", "trl"]
    times = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            trainer = build(kind)
            t0 = time.perf_counter()
            with completion_positions_only():  # a no-op for MirrorPOTrainer's own scope
                trainer.train()
            times[kind].append(time.perf_counter() - t0)
            del trainer
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"ratio: {args.rounds} rounds × {args.steps} steps, top-{layers} LoRA + "
          f"precompute_ref + compact_head, {torch.get_num_threads()} torch thread(s)")
    for k in kinds:
        print(f"  {k:4s} median {med[k]:6.2f} s/round (rounds: "
              f"{', '.join(f'{t:.2f}' for t in times[k])})")
    print(f"  MPO / TRL {med['trl'] / med['mpo']:.3f} (target >= 0.98); registry dpo / TRL "
          f"{med['trl'] / med['dpo']:.3f} (the trainer's share); MPO / registry dpo "
          f"{med['dpo'] / med['mpo']:.3f} (the loss's share)")


if __name__ == "__main__":
    main()
