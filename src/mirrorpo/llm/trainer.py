"""TRL's DPO trainer with its loss replaced by any mirrorpo loss.

TRL 1.16 computes the whole DPO objective in ``DPOTrainer._compute_loss``, choosing the loss
from a fixed ``if/elif`` chain; a new loss cannot be registered, so :class:`MirrorPOTrainer`
overrides that method. It keeps TRL's forward (fused LM head: per-token log-probabilities
without materialising logits), its reference handling (a reference model, the PEFT base with
adapters disabled, or precomputed reference log-probabilities) and its reward metrics, and
feeds the per-pair summed log-likelihoods, completion lengths and training progress τ to a
mirrorpo :data:`~mirrorpo.losses.registry.BatchLoss` (DPO, ORPO, SimPO, MPO/TA-MPO files, ...).
The method is private in TRL, hence the exact ``trl`` pin of the ``llm`` extra.

With ``precompute_ref_log_probs`` and a ``ref_cache`` directory, the reference log-likelihoods
are kept in ``REF_CACHE/<sha256>.npz``, keyed by the tokenised rows, the reference's weights
(LoRA adapters excluded, so every seed and adapter placement shares them), max_length and the
tokenizer: TRL's own cache key hashes the whole model, random adapters included.

With ``compact_head``, TRL's fused LM head scores the completion positions only (the
positions whose log-probabilities enter the loss) instead of every position, prompt and
padding included: TRL compacts only on Triton devices (``trl.trainer.utils``, ``compact =
_use_triton(device)``), and on a CPU the (vocabulary × hidden) head over every position was
the largest part of a step with adapters on the top layers. The same per-position function
on fewer rows: equal log-likelihoods up to the matrix product's rounding.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from trl import DPOTrainer

from mirrorpo.losses.registry import BatchLoss, PreferenceBatch

_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


def _model_kwargs(inputs: dict) -> dict:
    """The collated batch without the entries that are not model inputs."""
    return {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}


def rows_digest(dataset) -> str:
    """sha256 of a dataset's columns (names and values, in row order)."""
    h = hashlib.sha256()
    for col in sorted(dataset.column_names):
        h.update(json.dumps([col, dataset[col]], default=str).encode())
    return h.hexdigest()


def weights_digest(model) -> str:
    """sha256 of a (possibly PEFT-wrapped) model's base weights: names with PEFT's prefixes
    removed, dtype, shape and bytes of every parameter and buffer except LoRA's."""
    h = hashlib.sha256()
    seen = set()
    named = list(model.named_parameters()) + list(model.named_buffers())
    for name, t in sorted(named, key=lambda kv: base_name(kv[0])):
        if "lora_" in name or id(t) in seen:
            continue
        seen.add(id(t))
        t = t.detach().cpu().contiguous()
        h.update(f"{base_name(name)}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def base_name(name: str) -> str:
    """A parameter's name in the plain model (without PEFT's wrappers)."""
    return name.removeprefix("base_model.model.").replace(".base_layer.", ".")


def ref_cache_key(rows: str, weights: str, settings: dict) -> str:
    """sha256 of (rows' digest, weights' digest, the settings as sorted JSON)."""
    blob = json.dumps({"rows": rows, "weights": weights, "settings": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_ref_columns(path: Path, n: int) -> dict | None:
    """The cached reference columns of ``n`` rows, or None (no file, or not a valid one)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            cols = {c: z[c].astype(np.float32) for c in REF_COLUMNS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return cols if all(v.shape == (n,) for v in cols.values()) else None


def save_ref_columns(path: Path, cols: dict) -> Path:
    """``cols`` as an npz file, written to a temporary sibling and renamed (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **cols)
    tmp.replace(path)
    return path


@contextmanager
def completion_positions_only() -> Iterator[None]:
    """Within the block, TRL's fused LM head scores only the positions with a label (module
    docstring): its Triton-device branch, which is plain tensor indexing, on any device."""
    import trl.trainer.utils as trl_utils

    saved = trl_utils._use_triton
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = saved


def training_progress(step: int, max_steps: int) -> float:
    """τ = step / (max_steps − 1) ∈ [0, 1], as in the control-suite trainer (TA-MPO's clock)."""
    return min(1.0, step / max(max_steps - 1, 1))


class MirrorPOTrainer(DPOTrainer):
    """``DPOTrainer(..., loss=BatchLoss)``: every other argument is TRL's.

    ``loss`` maps a :class:`PreferenceBatch` of (B,) tensors to per-pair losses (B,); the
    training loss is their mean. ``beta`` of the DPOConfig only scales the logged rewards.
    """

    def __init__(self, *args, loss: BatchLoss, ref_cache: str | Path | None = None,
                 compact_head: bool = False, **kwargs):
        self.mirrorpo_loss = loss
        self.ref_cache = None if ref_cache is None else Path(ref_cache)
        self.compact_head = compact_head
        super().__init__(*args, **kwargs)

    @contextmanager
    def _head_scope(self) -> Iterator[None]:
        if self.compact_head:
            with completion_positions_only():
                yield
        else:
            yield

    def ref_cache_file(self, dataset) -> Path:
        """REF_CACHE/<key>.npz of ``dataset`` (TRL's tokenised rows) for this reference."""
        args, tok = self.args, self.processing_class
        settings = {"max_length": args.max_length, "truncation_mode": args.truncation_mode,
                    "ld_alpha": self.ld_alpha, "bf16": bool(args.bf16),
                    "fp16": bool(args.fp16), "tokenizer": getattr(tok, "name_or_path", ""),
                    "vocab": len(tok)}
        if self.compact_head:  # other rounding of the head's product
            settings["compact_head"] = True
        ref = self.ref_model if self.ref_model is not None else self.model
        key = ref_cache_key(rows_digest(dataset), weights_digest(ref), settings)
        return self.ref_cache / f"{key}.npz"

    def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
        """TRL's precompute, loaded from / saved to ``ref_cache`` when one was given."""
        if self.ref_cache is None:
            with self._head_scope():
                return super()._precompute_ref_logps(dataset, name, batch_size)
        from datasets import Dataset, concatenate_datasets

        path = self.ref_cache_file(dataset)
        cached = load_ref_columns(path, len(dataset))
        if cached is not None:
            return concatenate_datasets([dataset, Dataset.from_dict(cached)], axis=1)
        with self._head_scope():
            out = super()._precompute_ref_logps(dataset, name, batch_size)
        if self.accelerator.is_main_process:
            save_ref_columns(path, {c: np.asarray(out[c], dtype=np.float32)
                                    for c in REF_COLUMNS})
        return out

    def preference_batch(self, model, inputs) -> PreferenceBatch:
        """Policy and reference summed log-likelihoods of the chosen / rejected completions."""
        completion_mask = inputs["completion_mask"]  # (2B, T): chosen rows, then rejected rows
        shift_mask = completion_mask[..., 1:]
        model_kwargs = {**_model_kwargs(inputs), "use_cache": False}
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        logps = outputs.log_probs[:, -shift_mask.size(1):].sum(dim=1)
        chosen_logps, rejected_logps = logps.chunk(2, dim=0)
        lengths = completion_mask.sum(dim=1).clamp(min=1).to(logps.dtype)
        chosen_lengths, rejected_lengths = lengths.chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:  # a reference model, or the PEFT base with adapters disabled (TRL's logic)
            ref = self.ref_model if self.ref_model is not None else self.model
            ref_chosen, ref_rejected = self.compute_ref_log_probs(ref, inputs)
        tau = training_progress(self.state.global_step, self.state.max_steps)
        return PreferenceBatch(chosen_logps, rejected_logps, ref_chosen.to(logps.dtype),
                               ref_rejected.to(logps.dtype), chosen_lengths, rejected_lengths,
                               torch.tensor(tau, dtype=logps.dtype, device=logps.device))

    def _compute_loss(self, model, inputs, return_outputs):
        with self._head_scope():
            batch = self.preference_batch(model, inputs)
        loss = self.mirrorpo_loss(batch).mean()
        self._log_rewards(batch)
        if return_outputs:  # evaluation with prediction_loss_only=False wants model outputs
            with torch.no_grad():
                return loss, model(**_model_kwargs(inputs))
        return loss

    def _log_rewards(self, batch: PreferenceBatch) -> None:
        """TRL's reward metrics: rewards = β·(ℓ − ℓ_ref), their accuracy and margin, and ℓ."""
        mode = "train" if self.model.training else "eval"
        gather, metrics = self.accelerator.gather, self._metrics[mode]
        chosen = self.beta * batch.chosen_logratios.detach()
        rejected = self.beta * batch.rejected_logratios.detach()
        metrics["rewards/chosen"].append(gather(chosen).mean().item())
        metrics["rewards/rejected"].append(gather(rejected).mean().item())
        metrics["rewards/accuracies"].append(gather((chosen > rejected).float()).mean().item())
        metrics["rewards/margins"].append(gather(chosen - rejected).mean().item())
        metrics["logps/chosen"].append(gather(batch.policy_chosen_logps.detach()).mean().item())
        metrics["logps/rejected"].append(gather(batch.policy_rejected_logps.detach()).mean().item())
