"""``mirrorpo llm bench`` and the options the ``llm`` commands share.

The bench trains with :class:`~mirrorpo.llm.config.LLMBenchTrainConfig`, whose defaults (40
steps, LoRA) differ from ``llm train``'s :class:`~mirrorpo.llm.config.LLMTrainConfig` (200
steps, all weights); each command generates its options from its own class.
"""

from __future__ import annotations

from pathlib import Path

import click

from mirrorpo.cli.common import console, friendly_errors, progress_bar, threads_option
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.llm.config import LLMBenchConfig, LLMBenchTrainConfig, LLMEvalConfig

EVAL_RENAME = {"batch_size": "eval_batch_size"}
"""The evaluation's batch size is --eval-batch-size beside the training's --batch-size."""


@click.command("bench")
@config_options(LLMBenchConfig)
@config_options(LLMBenchTrainConfig, exclude=("seed",))
@config_options(LLMEvalConfig, exclude=("seed",), rename=EVAL_RENAME)
@threads_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Bench directory (an interrupted run resumes with the same options).")
@friendly_errors
def bench_cmd(threads, out, **options) -> None:
    """Train every loss on every preset for N seeds and evaluate each on the held-out prompts
    against the reference: summary.md/.csv (mean and 95% bootstrap CI over seeds of win rate,
    LC win rate, reward, KL, length) and plots/win_rate_PRESET.png. Finished units are kept
    and an interrupted run resumes; the reference's samples are drawn once per seed."""
    from mirrorpo.llm.benchmark import bench

    train = from_options(LLMBenchTrainConfig, options, exclude=("seed",))
    evaluation = from_options(LLMEvalConfig, options, exclude=("seed",), rename=EVAL_RENAME)
    cfg = from_options(LLMBenchConfig, options, train=train, eval=evaluation)
    bench(cfg, out, threads=threads, progress=progress_bar, log=console.print)
    console.print(f"summary in {out / 'summary.md'}")
