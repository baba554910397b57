"""Shared fixtures: tiny, randomly initialised suite assets (no training needed)."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorpo.assets import ASSETS_ENV_VAR, LADDER_FILE, REFERENCE_FILE, write_suite_info
from mirrorpo.envs import get_spec
from mirrorpo.policies import PolicyStack, save_policies


def random_stack(obs_dim: int, act_dim: int, size: int, hidden=(8,), seed=0,
                 log_std=-0.5) -> PolicyStack:
    rng = np.random.default_rng(seed)
    dims = (obs_dim, *hidden, act_dim)
    return PolicyStack(
        weights=tuple(rng.normal(0, 0.5, (size, dims[i], dims[i + 1]))
                      for i in range(len(dims) - 1)),
        biases=tuple(rng.normal(0, 0.1, (size, dims[i + 1])) for i in range(len(dims) - 1)),
        log_std=np.full((size, act_dim), log_std),
        obs_mean=rng.normal(0, 0.1, (size, obs_dim)),
        obs_std=np.ones((size, obs_dim)),
        activation="tanh",
    )


@pytest.fixture
def tiny_assets(tmp_path, monkeypatch):
    """Hopper assets made of random policies, under $MIRRORPO_ASSETS."""
    spec = get_spec("hopper")
    root = tmp_path / "assets"
    d = root / "hopper"
    d.mkdir(parents=True)
    ladder = random_stack(spec.obs_dim, spec.act_dim, 5, seed=1)
    save_policies(d / LADDER_FILE, ladder, {"env": "hopper"})
    save_policies(d / REFERENCE_FILE, random_stack(spec.obs_dim, spec.act_dim, 1, seed=2),
                  {"env": "hopper"})
    levels = [
        {"level": i, "source": f"random{i}", "env_steps": 0, "return_mean": 10.0 * i,
         "return_std": 1.0, "score": 10.0 * i, "score_ci95": [0.0, 1.0]}
        for i in range(5)
    ]
    write_suite_info("hopper", {"env": "hopper", "random_return": 10.0,
                                "expert_return": 1000.0, "ladder": levels}, d)
    monkeypatch.setenv(ASSETS_ENV_VAR, str(root))
    return d


def _char_tokenizer(chat: bool = False):
    """One token per printable ASCII character, built locally (no downloads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [chr(i) for i in range(32, 127)] + ["\n"]
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>",
                                  unk_token="<unk>")
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


@pytest.fixture(scope="session")
def char_tokenizer():
    """A factory of tiny character-level tokenizers (``chat=True`` adds a chat template)."""
    return _char_tokenizer


def _tiny_llama(tok, *, layers: int = 2, max_positions: int = 256):
    """A randomly initialised 2-layer Llama (seed 0) over ``tok``'s vocabulary, for LLM tests
    that need a real causal LM but no download."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=max_positions, pad_token_id=0, eos_token_id=1,
                      bos_token_id=1)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="session")
def tiny_llama():
    """A factory of tiny random Llama models (``_tiny_llama``)."""
    return _tiny_llama
