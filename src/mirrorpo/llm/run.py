"""Training a causal LM on preference data with any mirrorpo loss (TRL), and loading the result.

A run directory holds ``model/`` (safetensors: the full model, or the LoRA adapter, with the
tokenizer), ``config.json`` (the data, the loss as recorded, the settings, the training time)
and ``log.csv`` (TRL's per-step loss and reward metrics). It is written whole (into a temporary
sibling, then swapped in: mirrorpo.outputs.atomic_dir), so a directory with ``model/`` is a
finished run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from mirrorpo.llm.config import LLMTrainConfig
from mirrorpo.losses.resolve import LossLike, NamedLoss, resolve_loss
from mirrorpo.progress import Advance, Log, Progress, no_log, no_progress

CONFIG_FILE = "config.json"
MODEL_SUBDIR = "model"
LOG_FILE = "log.csv"
CHECKPOINT_STEPS = 25
"""Optimiser steps between the checkpoints of ``fit(checkpoint=...)``."""
EXTRAS_FILE = "mirrorpo.json"
"""Written into a checkpoint after Transformers has saved it: training seconds so far and the
callbacks' ``checkpoint_state()``; a checkpoint without it is incomplete and not resumed."""


@dataclass(frozen=True)
class LLMTrainResult:
    """What :func:`train` returns."""

    out: Path
    """The run directory."""
    label: str
    """The loss's label."""
    history: list[dict]
    """TRL's per-step logs (loss, rewards/margins, ...), as in ``log.csv``."""
    seconds: float
    """Training time (model loading and saving excluded)."""
    record: dict
    """The run's config.json."""

    @property
    def final(self) -> dict:
        """The last step's log ({} when nothing was logged)."""
        return self.history[-1] if self.history else {}

    @property
    def model_dir(self) -> Path:
        return self.out / MODEL_SUBDIR


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads (None leaves them as they are)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def train(data, loss: LossLike | NamedLoss, model, config: LLMTrainConfig | None, out, *,
          force: bool = False, threads: int | None = None, progress: Progress = no_progress,
          log: Log = no_log) -> LLMTrainResult:
    """Train a causal LM from the model directory ``model`` (also the reference) on preference
    rows ``data`` (a JSONL file or a saved ``datasets`` directory) with ``loss`` (anything
    :func:`~mirrorpo.losses.resolve.resolve_loss` takes: a spec, a loss-family file, an import
    path or a Python callable) and ``config`` (None: the defaults), and save the run in
    ``out``.

    Every input is checked before the model is loaded: the output directory (an existing run
    is replaced only with ``force``), the loss and every data row. ``threads`` sets torch's
    threads; ``progress`` reports the optimiser steps.
    """
    from mirrorpo.llm.data import load_preferences
    from mirrorpo.llm.model import check_model_dir, load_model, offline
    from mirrorpo.outputs import check_output_dir

    config = config or LLMTrainConfig()
    check_output_dir(out, MODEL_SUBDIR, "LLM training run", force=force)
    named = resolve_loss(loss)
    rows = load_preferences(data)
    check_model_dir(model)
    offline()
    set_threads(threads)
    import torch

    torch.manual_seed(config.seed)
    policy, tok = load_model(model)
    record = {"data": str(data), "loss": named.record, "loss_label": named.label,
              "model": str(model), **config.to_json(), "pairs": len(rows)}
    _, history, seconds = fit(policy, tok, rows, named, config, record, Path(out),
                              progress=progress)
    log(f"trained {named.label} for {config.steps} steps in {seconds:.0f}s")
    return LLMTrainResult(Path(out), named.label, history, seconds,
                          {**record, "train_seconds": seconds})


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` directory under ``root`` (one holding
    ``EXTRAS_FILE``), or None."""
    done = [d for d in Path(root).glob("checkpoint-*")
            if d.name.split("-")[-1].isdigit() and (d / EXTRAS_FILE).is_file()]
    return max(done, key=checkpoint_step, default=None)


def checkpoint_step(checkpoint: Path) -> int:
    """The optimiser step of a Transformers ``checkpoint-N`` directory: N."""
    return int(Path(checkpoint).name.split("-")[-1])


def _checkpoint_extras(seconds, callbacks: tuple):
    """A ``TrainerCallback`` writing ``{"train_seconds": seconds(), "callbacks": [each
    callback's checkpoint_state()]}`` into each checkpoint after it is saved."""
    from transformers import TrainerCallback

    from mirrorpo.fileio import write_text_atomic

    class CheckpointExtras(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            extras = {"train_seconds": seconds(),
                      "callbacks": [c.checkpoint_state() for c in callbacks]}
            write_text_atomic(d / EXTRAS_FILE, json.dumps(extras))

    return CheckpointExtras()


def fit(model, tok, data, loss: NamedLoss, config: LLMTrainConfig, record: dict, out: Path,
        *, progress: Progress = no_progress, ref_cache: Path | None = None,
        callbacks: tuple = (), checkpoint: Path | None = None,
        save_steps: int = CHECKPOINT_STEPS):
    """Train with TRL and save OUT/model, OUT/log.csv and OUT/config.json (``record`` with the
    training time), swapped in whole; returns (trained model, possibly PEFT-wrapped; per-step
    log; seconds). ``ref_cache``: where precomputed reference log-likelihoods are shared
    (``config.precompute_ref``; None computes them afresh). ``callbacks``: more
    ``TrainerCallback``s; the time one reports in a ``seconds`` attribute (an evaluation it
    ran) is not counted as training.

    ``checkpoint``: a directory where Transformers saves the weights, optimiser, scheduler and
    RNG states every ``save_steps`` steps (the last one kept); an interrupted fit given the
    same directory resumes from its newest complete checkpoint (Trainer's
    ``resume_from_checkpoint``, which also skips the batches already seen), with the callbacks'
    state (``checkpoint_state``/``restore``) and the training seconds so far. The directory is
    removed once the run is saved."""
    import shutil

    from mirrorpo.fileio import read_json, write_csv_atomic, write_text_atomic
    from mirrorpo.outputs import atomic_dir

    resume = latest_checkpoint(checkpoint) if checkpoint is not None else None
    before = 0.0
    if resume is not None:
        extras = read_json(resume / EXTRAS_FILE, "checkpoint")
        before = extras["train_seconds"]
        for c, st in zip(callbacks, extras["callbacks"], strict=True):
            c.restore(st)
    eval_before = sum(getattr(c, "seconds", 0.0) for c in callbacks)

    def seconds() -> float:  # training seconds so far, evaluations excluded
        evals = sum(getattr(c, "seconds", 0.0) for c in callbacks) - eval_before
        return before + time.time() - t0 - evals

    with atomic_dir(out) as tmp:
        write_text_atomic(tmp / CONFIG_FILE, json.dumps(record, indent=1))
        with progress(f"train {loss.label}", config.steps) as advance:
            extra = () if checkpoint is None else (_checkpoint_extras(seconds, callbacks),)
            trainer = build_trainer(model, tok, data, loss, config, tmp, advance,
                                    ref_cache=ref_cache, callbacks=callbacks + extra,
                                    checkpoint=checkpoint, save_steps=save_steps)
            if resume is not None:
                advance(checkpoint_step(resume))
            t0 = time.time()
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            elapsed = seconds()
        trainer.save_model(str(tmp / MODEL_SUBDIR))
        tok.save_pretrained(tmp / MODEL_SUBDIR)
        history = [h for h in trainer.state.log_history if "loss" in h]
        write_csv_atomic(tmp / LOG_FILE, history, sorted({k for h in history for k in h}))
        write_text_atomic(tmp / CONFIG_FILE, json.dumps({**record, "train_seconds": elapsed},
                                                        indent=1))
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return trainer.model, history, elapsed


def dpo_config(config: LLMTrainConfig, out: Path, checkpoint: Path | None = None,
               save_steps: int = CHECKPOINT_STEPS):
    """TRL's DPOConfig of ``config`` (on the GPU when there is one; OUT/trl as output_dir, or
    ``checkpoint``, where a checkpoint is saved every ``save_steps`` steps)."""
    import torch
    from trl import DPOConfig

    saving = {"save_strategy": "no"} if checkpoint is None else {
        "save_strategy": "steps", "save_steps": save_steps, "save_total_limit": 1}
    return DPOConfig(
        output_dir=str(out / "trl" if checkpoint is None else checkpoint),
        use_cpu=not torch.cuda.is_available(), bf16=config.bf16,
        fp16=False, activation_checkpointing=False,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, max_steps=config.steps,
        learning_rate=config.effective_learning_rate, max_length=config.max_length,
        beta=config.beta, logging_steps=1, report_to="none", **saving,
        seed=config.seed, dataloader_num_workers=0, lr_scheduler_type="constant",
        disable_tqdm=True, precompute_ref_log_probs=config.precompute_ref)


def lora_config(config: LLMTrainConfig, num_layers: int):
    """peft's LoraConfig of ``config``: rank r, alpha 2r, on q/k/v/o of every decoder layer, or
    of the top ``lora_layers`` (L−N..L−1 of ``num_layers`` L) only."""
    from peft import LoraConfig

    from mirrorpo.config import ConfigError

    layers = None
    if config.lora_layers is not None:
        if config.lora_layers > num_layers:
            raise ConfigError(f"LLMTrainConfig.lora_layers: {config.lora_layers} exceeds the "
                              f"model's {num_layers} decoder layers")
        layers = list(range(num_layers - config.lora_layers, num_layers))
    return LoraConfig(
        r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM",
        layers_to_transform=layers, layers_pattern="layers" if layers else None)


def build_trainer(model, tok, data, loss: NamedLoss, config: LLMTrainConfig, out: Path,
                  advance: Advance | None = None, *, ref_cache: Path | None = None,
                  callbacks: tuple = (), checkpoint: Path | None = None,
                  save_steps: int = CHECKPOINT_STEPS):
    """A :class:`~mirrorpo.llm.trainer.MirrorPOTrainer` for ``config`` (full fine-tuning with a
    frozen copy as reference, or LoRA with the base as reference; with ``precompute_ref`` the
    reference log-likelihoods are computed once, before training, and no reference is kept,
    shared through ``ref_cache`` when given); ``advance(1)`` after every optimiser step (TRL's
    own progress bar and log printing are off); ``callbacks`` added after it."""
    import copy

    from transformers import PrinterCallback, TrainerCallback

    from mirrorpo.llm.trainer import MirrorPOTrainer

    args = dpo_config(config, out, checkpoint, save_steps)
    kwargs = {}
    if config.lora:
        kwargs["peft_config"] = lora_config(config, model.config.num_hidden_layers)
    elif not config.precompute_ref:  # precomputed: TRL scores with the untrained policy
        kwargs["ref_model"] = copy.deepcopy(model).eval()
    trainer = MirrorPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                              loss=loss.fn, ref_cache=ref_cache,
                              compact_head=config.compact_head, **kwargs)
    trainer.remove_callback(PrinterCallback)
    if advance is not None:
        class StepProgress(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                advance(1)

        trainer.add_callback(StepProgress())
    for callback in callbacks:
        trainer.add_callback(callback)
    return trainer


def trained_model_dir(run) -> Path:
    """``RUN/model`` of a finished run; FileNotFoundError naming the run otherwise."""
    model_dir = Path(run) / MODEL_SUBDIR
    if not ((model_dir / "adapter_config.json").is_file()
            or (model_dir / "config.json").is_file()):
        raise FileNotFoundError(f"{run}: no trained model in {model_dir} (train one with "
                                "mirrorpo.llm.train or `mirrorpo llm train`)")
    return model_dir


def load_trained(run, reference):
    """The trained model of run directory ``run`` in eval mode: the full model, or the LoRA
    adapter on the reference (base) model directory ``reference``."""
    from mirrorpo.llm.model import load_model

    model_dir = trained_model_dir(run)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _ = load_model(reference)
        return PeftModel.from_pretrained(base, str(model_dir)).eval()
    return load_model(model_dir)[0].eval()
