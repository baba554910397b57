"""The TRL port: on one batch, each mirrorpo loss equals TRL's own loss of the same name."""

import copy
import os

import pytest

pytest.importorskip("trl", reason="the llm extra (trl, transformers) is not installed")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

from mirrorpo.llm.trainer import MirrorPOTrainer, training_progress  # noqa: E402
from mirrorpo.losses.resolve import resolve_loss  # noqa: E402


@pytest.fixture(scope="module")
def setup(char_tokenizer, tiny_llama):
    tok = char_tokenizer()
    ref = tiny_llama(tok, max_positions=128)
    policy = copy.deepcopy(ref)
    with torch.no_grad():  # policy ≠ reference, so every log-ratio is non-zero
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    # chosen completions share one length (TRL's sft averages over the batch's tokens, ours
    # per pair: equal lengths make them the same); rejected lengths vary.
    rows = [{"prompt": f"Q{i}: rate it.", "chosen": f" good {i:02d}",
             "rejected": " bad" + "!" * (i + 1)} for i in range(4)]
    return tok, policy, ref, Dataset.from_list(rows)


def first_batch_loss(trainer_cls, setup, **kwargs):
    tok, policy, ref, data = setup
    extra = {k: kwargs.pop(k) for k in ("loss",) if k in kwargs}
    args = DPOConfig(output_dir="/tmp/mirrorpo-test-trl", use_cpu=True, bf16=False,
                     activation_checkpointing=False, per_device_train_batch_size=4,
                     max_steps=1, max_length=64, report_to="none", save_strategy="no",
                     disable_tqdm=True, seed=0, **kwargs)
    trainer = trainer_cls(model=copy.deepcopy(policy), ref_model=copy.deepcopy(ref), args=args,
                          train_dataset=data, processing_class=tok, **extra)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    return loss.item(), trainer._metrics["train"]


PORTED = [  # mirrorpo spec, TRL DPOConfig fields
    ("dpo:beta=0.3", {"loss_type": "sigmoid", "beta": 0.3}),
    ("hinge:beta=0.3", {"loss_type": "hinge", "beta": 0.3}),
    ("rdpo:beta=0.3,label_smoothing=0.2", {"loss_type": "robust", "beta": 0.3,
                                           "label_smoothing": 0.2}),
    ("exo_pair:beta=0.3,label_smoothing=0.01", {"loss_type": "exo_pair", "beta": 0.3,
                                                "label_smoothing": 0.01}),
    ("nca_pair:beta=0.3", {"loss_type": "nca_pair", "beta": 0.3}),
    ("sppo_hard:beta=0.3", {"loss_type": "sppo_hard", "beta": 0.3}),
    ("apo_zero:beta=0.3", {"loss_type": "apo_zero", "beta": 0.3}),
    ("discopop:beta=0.3,discopop_tau=0.05", {"loss_type": "discopop", "beta": 0.3,
                                             "discopop_tau": 0.05}),
    ("sft", {"loss_type": "sft"}),
]


@pytest.mark.parametrize("spec,trl_fields", PORTED, ids=[p[0].split(":")[0] for p in PORTED])
def test_loss_equals_trl_on_one_batch(setup, spec, trl_fields):
    ours, our_metrics = first_batch_loss(MirrorPOTrainer, setup, loss=resolve_loss(spec).fn,
                                         beta=trl_fields.get("beta", 0.1))
    theirs, their_metrics = first_batch_loss(DPOTrainer, setup, **trl_fields)
    assert abs(ours - theirs) <= 1e-5 * max(1.0, abs(theirs)), (ours, theirs)
    assert abs(ours) > 1e-3  # not a degenerate batch
    for key in ("rewards/margins", "logps/chosen", "logps/rejected"):
        assert our_metrics[key] == pytest.approx(their_metrics[key], rel=1e-6, abs=1e-6)


def test_trl_ipo_is_our_ipo_on_per_token_log_likelihoods(setup):
    """TRL's ``ipo`` averages each response's log-likelihood over its tokens before the margin;
    mirrorpo's ``ipo`` (Azar et al.'s) takes summed ones. Fed per-token averages, ours equals
    TRL's, so the port differs by exactly that documented input choice."""
    from mirrorpo.losses import get_loss

    def per_token_ipo(b):
        lw, ll = b.chosen_lengths, b.rejected_lengths
        avg = b._replace(policy_chosen_logps=b.policy_chosen_logps / lw,
                         policy_rejected_logps=b.policy_rejected_logps / ll,
                         reference_chosen_logps=b.reference_chosen_logps / lw,
                         reference_rejected_logps=b.reference_rejected_logps / ll)
        return get_loss("ipo")(avg, beta=0.3)

    ours, _ = first_batch_loss(MirrorPOTrainer, setup, loss=per_token_ipo, beta=0.3)
    summed, _ = first_batch_loss(MirrorPOTrainer, setup, loss=resolve_loss("ipo:beta=0.3").fn,
                                 beta=0.3)
    theirs, _ = first_batch_loss(DPOTrainer, setup, loss_type="ipo", beta=0.3)
    assert abs(ours - theirs) <= 1e-5 * max(1.0, abs(theirs)), (ours, theirs)
    assert abs(summed - theirs) > 1e-3  # the rejected lengths differ, so the inputs matter


def test_progress_runs_from_0_to_1():
    assert training_progress(0, 10) == 0 and training_progress(9, 10) == 1
    assert training_progress(0, 1) == 0 and training_progress(5, 10) == pytest.approx(5 / 9)


def test_shipped_smollm2_converts_loads_and_generates(tmp_path):
    from mirrorpo.llm.model import convert_gguf, load_model, shipped_gguf

    try:
        gguf = shipped_gguf()
    except FileNotFoundError as exc:
        pytest.skip(f"SmolLM2 is not installed: {exc}")
    model_dir = convert_gguf(gguf, tmp_path / "smollm2")
    assert (model_dir / "model.safetensors").is_file()
    model, tok = load_model(model_dir)
    assert sum(p.numel() for p in model.parameters()) > 100e6
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text


def test_missing_model_dir_is_a_clear_error(tmp_path):
    from mirrorpo.llm.model import load_model

    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path)


def test_sampling_and_response_logps_on_a_tiny_model(setup):
    from mirrorpo.llm.generate import response_logps, sample_responses

    tok, policy, _, _ = setup
    out = sample_responses(policy, tok, ["Hi", "A longer prompt"], n=3, max_new_tokens=6,
                           temperature=1.0, seed=0, batch_size=4)
    assert len(out) == 2 and all(len(r) == 3 for r in out)
    again = sample_responses(policy, tok, ["Hi", "A longer prompt"], n=3, max_new_tokens=6,
                             temperature=1.0, seed=0, batch_size=4)
    assert out == again  # seeded
    sums, counts = response_logps(policy, tok, ["Hi", "A longer prompt"], ["ab", "abc"],
                                  batch_size=1)
    both, both_counts = response_logps(policy, tok, ["Hi", "A longer prompt"], ["ab", "abc"])
    assert counts.tolist() == [3, 4] == both_counts.tolist()  # characters + eos
    torch.testing.assert_close(sums, both, rtol=1e-5, atol=1e-5)  # padding changes nothing
    assert (sums < 0).all()
