"""The LLM training speed options: precomputed (cached) reference log-likelihoods and LoRA on
the top layers only. Behaviour only (same numbers, cache hits, where gradients flow), never
wall-clock time."""

import copy
import os

import numpy as np
import pytest

pytest.importorskip("trl", reason="the llm extra (trl, transformers) is not installed")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from trl import DPOTrainer  # noqa: E402

from mirrorpo.config import ConfigError  # noqa: E402
from mirrorpo.llm.config import LLMBenchConfig, LLMBenchTrainConfig, LLMTrainConfig  # noqa: E402
from mirrorpo.llm.run import build_trainer  # noqa: E402
from mirrorpo.llm.trainer import (  # noqa: E402
    load_ref_columns,
    save_ref_columns,
    weights_digest,
)
from mirrorpo.losses.resolve import resolve_loss  # noqa: E402

LAYERS = 4


@pytest.fixture(scope="module")
def tiny(char_tokenizer, tiny_llama):
    tok = char_tokenizer()
    model = tiny_llama(tok, layers=LAYERS, max_positions=128).eval()
    rows = [{"prompt": f"Q{i}: rate it.", "chosen": f" good {i:02d}" + "+" * (i % 3),
             "rejected": " bad" + "!" * (i + 1)} for i in range(8)]
    return tok, model, Dataset.from_list(rows)


def make(tiny, tmp_path, *, data=None, seed=0, **cfg):
    """A trainer of ``build_trainer`` on a fresh copy of the tiny model (LoRA, DPO loss)."""
    tok, model, rows = tiny
    ref_cache = cfg.pop("ref_cache", None)
    config = LLMTrainConfig(**{"steps": 4, "batch_size": 2, "lora": True, "lora_rank": 4,
                               "learning_rate": 5e-2, "max_length": 64, "seed": seed, **cfg})
    torch.manual_seed(seed)
    return build_trainer(copy.deepcopy(model), tok, rows if data is None else data,
                         resolve_loss("dpo"), config, tmp_path / f"run-{seed}",
                         ref_cache=ref_cache)


def ref_columns(trainer) -> np.ndarray:
    return np.stack([np.asarray(trainer.train_dataset[c], dtype=np.float32)
                     for c in ("ref_chosen_logps", "ref_rejected_logps")])


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_precomputed_reference_equals_the_per_step_one(tiny, tmp_path, lora):
    step = make(tiny, tmp_path, lora=lora)
    pre = make(tiny, tmp_path, precompute_ref=True, lora=lora)
    assert (step.ref_model is None) == lora and pre.ref_model is None  # none kept
    assert pre.precompute_ref_logps and not step.precompute_ref_logps
    n = 0
    for b_step, b_pre in zip(step.get_train_dataloader(), pre.get_train_dataloader(),
                             strict=True):
        assert torch.equal(b_step["input_ids"], b_pre["input_ids"])  # same batches
        chosen, rejected = step.compute_ref_log_probs(step.model, b_step)
        torch.testing.assert_close(b_pre["ref_chosen_logps"], chosen, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b_pre["ref_rejected_logps"], rejected, rtol=1e-5,
                                   atol=1e-5)
        n += len(chosen)
    assert n == len(tiny[2])


def test_precomputed_reference_gives_the_same_loss_curve(tiny, tmp_path):
    curves = []
    for pre in (False, True):
        trainer = make(tiny, tmp_path, precompute_ref=pre)
        trainer.train()
        curves.append([h["loss"] for h in trainer.state.log_history if "loss" in h])
    assert len(curves[0]) == 4
    assert curves[0][-1] != pytest.approx(curves[0][0])  # it trained
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4, atol=1e-5)


def test_second_trainer_hits_the_cache(tiny, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = make(tiny, tmp_path, precompute_ref=True, ref_cache=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_precompute(*a, **k):
        raise AssertionError("precomputed again instead of reading the cache")

    monkeypatch.setattr(DPOTrainer, "_precompute_ref_logps", no_precompute)
    # another seed (other random adapters) and other adapted layers: the same base, one cache
    second = make(tiny, tmp_path, seed=1, precompute_ref=True, ref_cache=cache, lora_layers=2)
    np.testing.assert_array_equal(ref_columns(second), ref_columns(first))
    assert len(list(cache.glob("*.npz"))) == 1
    assert not list(cache.glob("*.tmp"))


def test_cache_key_changes_with_the_data_and_max_length(tiny, tmp_path):
    cache = tmp_path / "cache"
    rows = tiny[2]
    other = Dataset.from_list([{**r, "chosen": r["chosen"] + "?"} if i == 3 else r
                               for i, r in enumerate(rows)])
    make(tiny, tmp_path, precompute_ref=True, ref_cache=cache)
    make(tiny, tmp_path, precompute_ref=True, ref_cache=cache, data=other)
    make(tiny, tmp_path, precompute_ref=True, ref_cache=cache, max_length=24)
    assert len(list(cache.glob("*.npz"))) == 3
    make(tiny, tmp_path, precompute_ref=True, ref_cache=cache, seed=2)  # same key again
    assert len(list(cache.glob("*.npz"))) == 3


def test_cache_file_round_trip_and_bad_files(tmp_path):
    cols = {"ref_chosen_logps": np.array([-1.5, -2.0], dtype=np.float32),
            "ref_rejected_logps": np.array([-3.0, -4.25], dtype=np.float32)}
    path = save_ref_columns(tmp_path / "k.npz", cols)
    loaded = load_ref_columns(path, 2)
    assert all(np.array_equal(loaded[c], cols[c]) for c in cols)
    assert load_ref_columns(path, 3) is None  # not these rows: recomputed
    assert load_ref_columns(tmp_path / "missing.npz", 2) is None
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert load_ref_columns(path, 2) is None


def test_weights_digest_ignores_adapters_but_not_base_weights(tiny, tmp_path):
    a = make(tiny, tmp_path, seed=0).model
    b = make(tiny, tmp_path, seed=1, lora_layers=1).model
    with torch.no_grad():  # adapters that differ (B is zero at initialisation)
        for name, p in b.named_parameters():
            if "lora_B" in name:
                p.add_(1.0)
    assert weights_digest(a) == weights_digest(b) == weights_digest(tiny[1])
    changed = copy.deepcopy(tiny[1])
    with torch.no_grad():
        changed.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    assert weights_digest(changed) != weights_digest(tiny[1])


def test_lora_layers_adapt_and_backprop_only_the_top_layers(tiny, tmp_path):
    top = 1
    trainer = make(tiny, tmp_path, lora_layers=top, steps=1)
    model = trainer.model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(f"layers.{LAYERS - 1}." in n and "lora_" in n for n in trainable)
    decoder = model.get_base_model().model
    assert getattr(decoder.embed_tokens, "_require_grads_hook", None) is None
    assert not getattr(model.get_base_model(), "_require_grads_hook", None)
    carries = {}

    def record(i):
        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            carries.setdefault(i, []).append(hidden.requires_grad)
        return hook

    handles = [layer.register_forward_hook(record(i)) for i, layer in enumerate(decoder.layers)]
    try:
        trainer.train()
    finally:
        for h in handles:
            h.remove()
    # policy forwards: only the adapted layers' outputs carry gradients (reference forwards,
    # under no_grad, carry none), so backprop stops at layer L - top
    assert all(not any(carries[i]) for i in range(LAYERS - top))
    assert any(carries[LAYERS - 1])
    model.zero_grad(set_to_none=True)  # one more backward, its gradients kept
    trainer.compute_loss(model, next(iter(trainer.get_train_dataloader()))).backward()
    for i in range(LAYERS - top):
        assert all(p.grad is None for p in decoder.layers[i].parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.parameters() if p.requires_grad)


def test_lora_layers_beyond_the_model_is_refused(tiny, tmp_path):
    with pytest.raises(ConfigError, match=f"lora_layers: 5 exceeds the model's {LAYERS}"):
        make(tiny, tmp_path, lora_layers=LAYERS + 1)


def test_config_errors_and_records():
    with pytest.raises(ConfigError, match="LLMTrainConfig.lora_layers: needs lora"):
        LLMTrainConfig(lora_layers=2)
    with pytest.raises(ConfigError, match="lora_layers"):
        LLMTrainConfig(lora=True, lora_layers=0)
    plain = LLMTrainConfig().to_json()
    assert "lora_layers" not in plain and "precompute_ref" not in plain  # old runs resume
    fast = LLMTrainConfig(lora=True, lora_layers=4, precompute_ref=True).to_json()
    assert fast["lora_layers"] == 4 and fast["precompute_ref"] is True
    bench = LLMBenchConfig(data="d", model="m", losses=("dpo",))
    assert "lora_layers" not in bench.train_json()
    fast_bench = LLMBenchConfig(data="d", model="m", losses=("dpo",),
                                train=LLMBenchTrainConfig(lora_layers=2, precompute_ref=True))
    assert fast_bench.train_json()["lora_layers"] == 2


def test_compact_head_gives_the_same_numbers_on_fewer_positions(tiny, tmp_path, monkeypatch):
    """compact_head scores the completion positions only (TRL's Triton-device branch) and
    gives the full head's log-likelihoods and loss curve up to rounding."""
    import trl.trainer.utils as trl_utils

    rows_scored = []
    real = trl_utils._ChunkedLogProbFunction.apply

    def spy(hidden, *a, **k):
        rows_scored.append(hidden.shape[0])
        return real(hidden, *a, **k)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", spy)
    full, compact = (make(tiny, tmp_path, compact_head=c) for c in (False, True))
    batch = next(iter(full.get_train_dataloader()))
    got = []
    for trainer in (full, compact):
        rows_scored.clear()
        with trainer._head_scope():
            got.append(trainer.preference_batch(trainer.model, batch))
        positions = batch["completion_mask"][:, 1:].sum().item()
        expected = positions if trainer.compact_head else batch["input_ids"][:, 1:].numel()
        assert rows_scored == [expected, expected]  # the policy and the reference forward
    for name in ("policy_chosen_logps", "policy_rejected_logps"):
        torch.testing.assert_close(getattr(got[1], name), getattr(got[0], name), rtol=1e-5,
                                   atol=1e-5)
    assert trl_utils._use_triton(torch.device("cpu")) is False  # restored after the block
    curves = []
    for trainer in (make(tiny, tmp_path, compact_head=c) for c in (False, True)):
        trainer.train()
        curves.append([h["loss"] for h in trainer.state.log_history if "loss" in h])
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4, atol=1e-5)
    assert LLMTrainConfig(compact_head=True).to_json()["compact_head"] is True
    assert "compact_head" not in LLMTrainConfig().to_json()


class _Interrupt(Exception):
    pass


def test_an_interrupted_fit_resumes_from_its_checkpoint_to_the_same_weights(tiny, tmp_path):
    """A fit killed after its step-2 checkpoint, run again with the same checkpoint directory,
    ends where an uninterrupted fit ends; the callbacks' state comes back with it."""
    from transformers import TrainerCallback

    from mirrorpo.llm.run import fit, latest_checkpoint

    tok, model, rows = tiny
    config = LLMTrainConfig(steps=4, batch_size=2, lora=True, lora_rank=4, learning_rate=5e-2,
                            max_length=64, seed=0)

    class Steps(TrainerCallback):  # a callback with state, like the bench's curve
        def __init__(self, stop_at=None):
            self.points, self.seconds, self.stop_at = [], 0.0, stop_at

        def checkpoint_state(self):
            return {"points": self.points}

        def restore(self, st):
            self.points = st["points"]

        def on_step_end(self, args, state, control, **kw):
            self.points.append(state.global_step)
            if state.global_step == self.stop_at:
                raise _Interrupt

    def run(name, callback, checkpoint=None):
        torch.manual_seed(0)
        trained, history, _ = fit(copy.deepcopy(model), tok, rows, resolve_loss("dpo"), config,
                                  {}, tmp_path / name, callbacks=(callback,),
                                  checkpoint=checkpoint, save_steps=2)
        return {k: v.detach().clone() for k, v in trained.named_parameters() if "lora" in k}

    whole = run("whole", Steps())
    ck = tmp_path / "ck"
    with pytest.raises(_Interrupt):
        run("cut", Steps(stop_at=3), ck)
    assert latest_checkpoint(ck).name == "checkpoint-2" and not (tmp_path / "cut").exists()
    resumed_steps = Steps()
    resumed = run("cut", resumed_steps, ck)
    assert resumed_steps.points == [1, 2, 3, 4]  # 1-2 restored, 3-4 trained again
    assert not ck.exists() and (tmp_path / "cut" / "model").is_dir()
    assert whole.keys() == resumed.keys() and whole
    for k in whole:
        torch.testing.assert_close(resumed[k], whole[k], rtol=1e-5, atol=1e-6)
