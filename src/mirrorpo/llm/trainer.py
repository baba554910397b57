"""TRL's DPO trainer with its loss replaced by any mirrorpo loss.

TRL 1.16 computes the whole DPO objective in ``DPOTrainer._compute_loss``, choosing the loss
from a fixed ``if/elif`` chain; a new loss cannot be registered, so :class:`MirrorPOTrainer`
overrides that method. It keeps TRL's forward (fused LM head: per-token log-probabilities
without materialising logits), its reference handling (a reference model, the PEFT base with
adapters disabled, or precomputed reference log-probabilities) and its reward metrics, and
feeds the per-pair summed log-likelihoods, completion lengths and training progress τ to a
mirrorpo :data:`~mirrorpo.losses.registry.BatchLoss` (DPO, ORPO, SimPO, MPO/TA-MPO files, ...).
The method is private in TRL, hence the exact ``trl`` pin of the ``llm`` extra.
"""

from __future__ import annotations

import torch
from trl import DPOTrainer

from mirrorpo.losses.registry import BatchLoss, PreferenceBatch

_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


def _model_kwargs(inputs: dict) -> dict:
    """The collated batch without the entries that are not model inputs."""
    return {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}


def training_progress(step: int, max_steps: int) -> float:
    """τ = step / (max_steps − 1) ∈ [0, 1], as in the control-suite trainer (TA-MPO's clock)."""
    return min(1.0, step / max(max_steps - 1, 1))


class MirrorPOTrainer(DPOTrainer):
    """``DPOTrainer(..., loss=BatchLoss)``: every other argument is TRL's.

    ``loss`` maps a :class:`PreferenceBatch` of (B,) tensors to per-pair losses (B,); the
    training loss is their mean. ``beta`` of the DPOConfig only scales the logged rewards.
    """

    def __init__(self, *args, loss: BatchLoss, **kwargs):
        self.mirrorpo_loss = loss
        super().__init__(*args, **kwargs)

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
