"""``mirrorpo llm bench`` and ``mirrorpo llm tune``, and the options they share.

Both train with :class:`~mirrorpo.llm.config.LLMBenchTrainConfig`, whose defaults (40 steps,
LoRA) differ from ``llm train``'s :class:`~mirrorpo.llm.config.LLMTrainConfig` (200 steps, all
weights); each command generates its options from its own class.
"""

from __future__ import annotations

from pathlib import Path

import click

from mirrorpo.cli.common import UserError, console, friendly_errors, progress_bar, threads_option
from mirrorpo.cli.options import CommaList, config_options, from_options
from mirrorpo.config import help_of
from mirrorpo.llm.config import LLMBenchConfig, LLMBenchTrainConfig, LLMEvalConfig, LLMTuneConfig

EVAL_RENAME = {"batch_size": "eval_batch_size"}
"""The evaluation's batch size is --eval-batch-size beside the training's --batch-size."""


def unit_options(fn):
    """The training and evaluation options of every unit (seeds are the command's)."""
    fn = config_options(LLMEvalConfig, exclude=("seed",), rename=EVAL_RENAME)(fn)
    return config_options(LLMBenchTrainConfig, exclude=("seed",))(fn)


def unit_configs(options: dict) -> dict:
    """``train`` and ``eval`` configs from the options of :func:`unit_options`."""
    return {"train": from_options(LLMBenchTrainConfig, options, exclude=("seed",)),
            "eval": from_options(LLMEvalConfig, options, exclude=("seed",), rename=EVAL_RENAME)}


@click.command("bench")
@config_options(LLMBenchConfig, exclude=("losses",))
@click.option("--losses", type=CommaList(), default=None,
              help=help_of(LLMBenchConfig, "losses") + " Needed unless --tuned gives them.")
@click.option("--tuned", type=click.Path(path_type=Path), default=None,
              help="A tuned.json of `mirrorpo llm tune`: bench its chosen specs (before any "
                   "--losses); needs --eval-split test, seeds disjoint from the tuning's "
                   "(--seed-offset) and its training and sampling options.")
@unit_options
@threads_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Bench directory (an interrupted run resumes with the same options).")
@friendly_errors
def bench_cmd(threads, out, losses, tuned, **options) -> None:
    """Train every loss on every preset for N seeds and evaluate each on the held-out prompts
    against the reference: summary.md/.csv (mean and 95% bootstrap CI over seeds of win rate,
    LC win rate, reward, KL, length), plots/win_rate_PRESET.png and frontier_PRESET.png, and
    with --eval-steps the curve of reward against training step (plots/curve_PRESET.png).
    Finished units are kept and an interrupted run resumes; the reference's samples are drawn
    once per seed."""
    from mirrorpo.llm.benchmark import bench
    from mirrorpo.llm.tuning import check_tuned_bench, tuned_losses

    chosen = tuned_losses(tuned) if tuned is not None else ()
    if not chosen and not losses:
        raise UserError("give --losses, or --tuned with a tuned.json")
    cfg = from_options(LLMBenchConfig, options, exclude=("losses",),
                       losses=chosen + tuple(losses or ()), **unit_configs(options))
    if tuned is not None:
        check_tuned_bench(tuned, cfg)
    bench(cfg, out, threads=threads, progress=progress_bar, log=console.print)
    console.print(f"summary in {out / 'summary.md'}")


@click.command("tune")
@config_options(LLMTuneConfig, exclude=("grid",))
@click.option("--grid", multiple=True, required=True, help=help_of(LLMTuneConfig, "grid")
              + " Repeat for each loss, e.g. --grid 'dpo:beta=0.03|0.1|0.3' --grid ipo.")
@unit_options
@threads_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Tuning directory: a bench directory plus tuned.json (an interrupted run "
                   "resumes with the same options).")
@friendly_errors
def tune_cmd(threads, out, grid, **options) -> None:
    """Bench every grid point of every loss on the validation half of the held-out topics
    (seeds 0..N−1), choose per loss the point with the best mean --criterion over presets ×
    seeds, and write tuned.json (choice, its 95% CI, every point, runs spent) and the budget
    table at the top of summary.md. Test the choice with `llm bench --tuned OUT/tuned.json
    --eval-split test --seed-offset 100`."""
    from mirrorpo.llm.tuning import TUNED_FILE, tune

    cfg = from_options(LLMTuneConfig, options, exclude=("grid",), grid=tuple(grid),
                       **unit_configs(options))
    record = tune(cfg, out, threads=threads, progress=progress_bar, log=console.print)
    for loss, c in record["losses"].items():
        crit = c["criterion"]
        console.print(f"{loss}: {c['spec']}, {cfg.criterion} {crit['mean']:.3f} "
                      f"[{crit['low']:.3f}, {crit['high']:.3f}], {c['runs']} runs"
                      + (" (at a grid edge)" if c["at_edge"] else ""))
    console.print(f"choices in {out / TUNED_FILE}, summary in {out / 'summary.md'}")
