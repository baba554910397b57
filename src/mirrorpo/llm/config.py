"""The settings of the LLM jobs (data, train, eval, generate, bench, tune), checked when built.

Frozen dataclasses whose fields carry their help, range and default (mirrorpo.config), so the
command line generates its options from them. Importing this module is light (no torch).

``llm train`` and ``llm bench`` train with different defaults (200 full-weight steps for one
run; 40 LoRA steps per unit of a bench): :class:`LLMTrainConfig` holds the first,
:class:`LLMBenchTrainConfig`, the same fields with ``steps=40, lora=True``, the second; it is
the default ``train`` of :class:`LLMBenchConfig`, which accepts either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorpo.config import ConfigError, check, setting

LORA_LEARNING_RATE = 5e-4
FULL_LEARNING_RATE = 5e-6


@dataclass(frozen=True)
class LLMDataConfig:
    """How ``make_data`` samples and judges the reference's responses."""

    samples: int = setting(4, help="Responses sampled per training prompt.", ge=2)
    max_new_tokens: int = setting(40, help="Tokens sampled per response.", ge=1)
    temperature: float = setting(1.0, help="Sampling temperature.", gt=0)
    max_prompts: int | None = setting(None, help="Use only the first N training and N held-out "
                                                 "prompts (smoke tests).", ge=1)
    batch_size: int = setting(16, help="Prompts per generation / scoring batch.", ge=1)
    seed: int = setting(0, help="Seed of the topic split, the sampling and the pairs.", ge=0)
    prompt_set: str = setting("v1", choices=("v1", "v2"),
                              help="Prompts: v1 (288 training prompts, one sampling pass) or "
                                   "v2 (1032 training prompts, sampled in chunks that are "
                                   "saved as they finish, so an interrupted run resumes).")
    chunk_prompts: int = setting(64, ge=1, help="v2: training prompts sampled and judged per "
                                                "saved chunk (each chunk has its own seed).")

    def __post_init__(self):
        check(self)


@dataclass(frozen=True)
class LLMTrainConfig:
    """One TRL training run (``train``); the defaults are those of ``mirrorpo llm train``."""

    steps: int = setting(200, help="Optimiser steps.", ge=1)
    batch_size: int = setting(4, help="Preference pairs per device batch.", ge=1)
    grad_accum: int = setting(1, help="Gradient accumulation steps.", ge=1)
    learning_rate: float | None = setting(
        None, help="Learning rate [default: 5e-4 with lora, else 5e-6].", gt=0)
    lora: bool = setting(False, help="Train LoRA adapters (peft) on the attention projections "
                                     "instead of all weights; the reference is then the base "
                                     "model.")
    lora_rank: int = setting(8, help="LoRA rank (alpha = 2 × rank).", ge=1)
    max_length: int = setting(128, help="Tokens of prompt + response kept (TRL's max_length).",
                              ge=8)
    beta: float = setting(0.1, help="Scale of the logged implicit rewards only.", gt=0)
    seed: int = setting(0, help="Training seed (initialisation of adapters, batch order).",
                        ge=0)
    bf16: bool = setting(False, help="bf16 mixed precision (on a GPU that has it).")
    lora_layers: int | None = setting(
        None, help="LoRA adapters on the top N decoder layers only (needs lora); backprop "
                   "then stops below them [default: every layer].", ge=1)
    precompute_ref: bool = setting(False, help="Compute the reference log-likelihoods once "
                                               "before training instead of a reference "
                                               "forward per step.")
    compact_head: bool = setting(False, help="Score only the completion positions in the "
                                             "LM head (TRL does so only on Triton devices); "
                                             "equal up to rounding, faster on a CPU.")

    def __post_init__(self):
        check(self)
        if self.lora_layers is not None and not self.lora:
            raise ConfigError(f"{type(self).__name__}.lora_layers: needs lora (adapters "
                              "restricted to the top layers)")

    @property
    def effective_learning_rate(self) -> float:
        """``learning_rate``, or 5e-4 with LoRA and 5e-6 without when it is None."""
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_LEARNING_RATE if self.lora else FULL_LEARNING_RATE

    def to_json(self) -> dict:
        """The settings as a run's config.json records them (the learning rate resolved;
        ``lora_layers``, ``precompute_ref`` and ``compact_head`` only when set, so that runs
        and benches begun before they existed resume)."""
        out = {"steps": self.steps, "batch_size": self.batch_size,
               "grad_accum": self.grad_accum, "learning_rate": self.effective_learning_rate,
               "lora": self.lora, "lora_rank": self.lora_rank, "max_length": self.max_length,
               "beta": self.beta, "seed": self.seed, "bf16": self.bf16}
        if self.lora_layers is not None:
            out["lora_layers"] = self.lora_layers
        if self.precompute_ref:
            out["precompute_ref"] = True
        if self.compact_head:
            out["compact_head"] = True
        return out


@dataclass(frozen=True)
class LLMBenchTrainConfig(LLMTrainConfig):
    """:class:`LLMTrainConfig` with the defaults of ``mirrorpo llm bench`` (40 LoRA steps)."""

    steps: int = setting(40, help="Optimiser steps per unit.", ge=1)
    lora: bool = setting(True, help="Train LoRA adapters (peft) on the attention projections "
                                    "instead of all weights; the reference is then the base "
                                    "model.")


@dataclass(frozen=True)
class LLMEvalConfig:
    """Sampling of the held-out responses that ``evaluate`` judges."""

    max_new_tokens: int = setting(40, help="Tokens sampled per response.", ge=1)
    temperature: float = setting(1.0, help="Sampling temperature.", gt=0)
    batch_size: int = setting(16, help="Prompts per generation / scoring batch.", ge=1)
    seed: int = setting(0, help="Sampling seed of both the policy's and the reference's "
                                "responses.", ge=0)

    def __post_init__(self):
        check(self)

    def generation(self) -> dict:
        """The keyword arguments of sampling (and the metrics' record of them)."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "seed": self.seed, "batch_size": self.batch_size}


@dataclass(frozen=True)
class LLMGenerateConfig:
    """Decoding of ``generate_outputs`` (AlpacaEval-style outputs)."""

    max_new_tokens: int = setting(512, help="Tokens generated per response.", ge=1)
    temperature: float = setting(0.0, help="Sampling temperature; 0 decodes greedily.", ge=0)
    batch_size: int = setting(16, help="Prompts per generation batch.", ge=1)
    seed: int = setting(0, help="Sampling seed.", ge=0)

    def __post_init__(self):
        check(self)


BENCH_PRESETS = ("mixed", "noisy-20")
"""The presets a bench (and a tuning) trains on by default."""


def _eval_splits() -> tuple[str, ...]:
    """The held-out splits (read lazily: mirrorpo.llm.prompts imports numpy)."""
    from mirrorpo.llm.prompts import EVAL_SPLITS

    return EVAL_SPLITS


def _as_tuple(value: Any) -> Any:
    """A list (or a single string) of items as a tuple; anything else unchanged."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


def _normalise(config, tuples: tuple[str, ...]) -> None:
    """In place on a frozen config: ``data`` and ``model`` as one spelling per directory (as
    config.json records them) and the fields ``tuples`` as tuples (``_as_tuple``)."""
    for name in ("data", "model"):
        if isinstance(getattr(config, name), str | Path):
            object.__setattr__(config, name, str(Path(getattr(config, name))))
    for name in tuples:
        object.__setattr__(config, name, _as_tuple(getattr(config, name)))


@dataclass(frozen=True)
class LLMBenchConfig:
    """Everything that defines an LLM bench's numbers (saved with it; resume checks it).

    Unit (preset, loss, seed k), k = seed_offset .. seed_offset + seeds − 1, trains ``train``
    with seed k (``train.seed`` is not used) and samples its evaluation with seed k
    (``eval.seed`` is not used), on the held-out prompts of ``eval_split``; with
    ``eval_steps`` it is also evaluated at those training steps (its curve).
    """

    data: str = setting(help="A `mirrorpo llm data` directory (PRESET.jsonl files and "
                             "held-out prompts).")
    model: str = setting(help="Model directory to start from (also the reference).")
    losses: tuple[Any, ...] = setting(
        help="Losses: registered specs (dpo, dpo:beta=0.3, ...), loss-family .json files, "
             "package.module:function[:k=v] imports or (from Python) callables.")
    presets: tuple[str, ...] = setting(BENCH_PRESETS, help="Presets of data (its "
                                                           "PRESET.jsonl files).")
    seeds: int = setting(3, help="Training seeds per loss, OFFSET..OFFSET+N−1 (seed k also "
                                 "samples the evaluation).", ge=2)
    seed_offset: int = setting(0, ge=0, help="First training seed OFFSET (test seeds "
                                             "disjoint from a tuning's 0..N−1).")
    eval_split: str = setting("all", choices=_eval_splits,
                              help="Held-out prompts evaluated: all, or the validation or "
                                   "test half of their topics.")
    eval_steps: tuple[int, ...] = setting(
        (), help="Also evaluate every unit at these training steps (increasing, each below "
                 "the steps): the curve in eval.json and plots/curve_PRESET.png.")
    train: LLMTrainConfig = setting(default_factory=LLMBenchTrainConfig, cli=False,
                                    help="Training settings of every unit.")
    eval: LLMEvalConfig = setting(default_factory=LLMEvalConfig, cli=False,
                                  help="Sampling settings of every unit's evaluation.")

    def __post_init__(self):
        _normalise(self, ("losses", "presets", "eval_steps"))
        check(self)
        for name in ("losses", "presets"):
            if not getattr(self, name):
                raise ConfigError(f"LLMBenchConfig.{name}: give at least one")
        if not isinstance(self.train, LLMTrainConfig):
            raise ConfigError(f"LLMBenchConfig.train: expected an LLMTrainConfig, got "
                              f"{type(self.train).__name__}")
        if not isinstance(self.eval, LLMEvalConfig):
            raise ConfigError(f"LLMBenchConfig.eval: expected an LLMEvalConfig, got "
                              f"{type(self.eval).__name__}")
        check_eval_steps(self.eval_steps, self.train.steps)

    def train_json(self) -> dict:
        """The units' shared training settings as the bench's config.json records them (no
        seed; bf16 only when set, so benches begun before it existed resume)."""
        out = self.train.to_json()
        del out["seed"]
        if not out["bf16"]:
            del out["bf16"]
        return out

    def to_json(self, loss_records: list[str]) -> dict:
        """The bench's config.json, with the losses as recorded (``NamedLoss.record``)."""
        gen = self.eval.generation()
        del gen["seed"]
        out = {"data": self.data, "presets": list(self.presets), "losses": list(loss_records),
               "model": self.model, "seeds": self.seeds, "train": self.train_json(),
               "eval": gen}
        # recorded only when set, so benches begun before these settings existed resume
        if self.seed_offset:
            out["seed_offset"] = self.seed_offset
        if self.eval_split != "all":
            out["eval_split"] = self.eval_split
        if self.eval_steps:
            out["eval_steps"] = list(self.eval_steps)
        return out

    @property
    def seed_range(self) -> range:
        """The training (and evaluation) seeds of every loss: OFFSET..OFFSET+N−1."""
        return range(self.seed_offset, self.seed_offset + self.seeds)


def check_eval_steps(eval_steps: tuple[int, ...], steps: int) -> None:
    """ConfigError unless ``eval_steps`` are increasing positive integers below ``steps``."""
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in eval_steps) \
            or list(eval_steps) != sorted(set(eval_steps)):
        raise ConfigError(f"LLMBenchConfig.eval_steps: increasing positive step counts, got "
                          f"{list(eval_steps)}")
    if eval_steps and eval_steps[-1] >= steps:
        raise ConfigError(f"LLMBenchConfig.eval_steps: each must be below LLMTrainConfig.steps "
                          f"({steps}; the last step is always evaluated), got {eval_steps[-1]}")


TUNE_CRITERIA = {"reward": "reward_mean", "win_rate": "win_rate"}
"""A tuning's criterion → the unit metric it maximises (mean over presets × seeds)."""


@dataclass(frozen=True)
class LLMTuneConfig:
    """A matched-budget tuning: every point of every loss's grid benched on the validation
    half of the held-out prompts (one bench directory), then the best point per loss."""

    data: str = setting(help="A `mirrorpo llm data` directory (PRESET.jsonl files and "
                             "held-out prompts).")
    model: str = setting(help="Model directory to start from (also the reference).")
    grid: tuple[str, ...] = setting(
        help="One grid per loss: NAME (the registered sweep of its main hyper-parameter, e.g. "
             "dpo: beta=0.01|0.1|1), NAME:key=v1|v2|...[,key2=w1|w2] (the cross product), "
             "or any single loss spec.")
    presets: tuple[str, ...] = setting(BENCH_PRESETS, help="Presets of data tuned on (one "
                                                           "choice per loss for all of them).")
    seeds: int = setting(2, ge=2, help="Training seeds 0..N−1 per grid point.")
    criterion: str = setting("reward", choices=tuple(TUNE_CRITERIA),
                             help="What the choice maximises: the mean judged reward or the "
                                  "mean win rate against the reference, over presets × seeds.")
    train: LLMTrainConfig = setting(default_factory=LLMBenchTrainConfig, cli=False,
                                    help="Training settings of every unit.")
    eval: LLMEvalConfig = setting(default_factory=LLMEvalConfig, cli=False,
                                  help="Sampling settings of every unit's evaluation.")

    def __post_init__(self):
        _normalise(self, ("grid", "presets"))
        check(self)
        for name in ("grid", "presets"):
            if not getattr(self, name):
                raise ConfigError(f"LLMTuneConfig.{name}: give at least one")

    def bench_config(self, losses: list[str]) -> LLMBenchConfig:
        """The bench of the grid points ``losses`` on the validation split, seeds 0..N−1."""
        return LLMBenchConfig(data=self.data, model=self.model, losses=tuple(losses),
                              presets=self.presets, seeds=self.seeds, train=self.train,
                              eval=self.eval, eval_split="validation")
