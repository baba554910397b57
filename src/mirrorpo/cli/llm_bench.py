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


@click.command("verdicts")
@click.option("--bench", "bench_dir", type=click.Path(path_type=Path), required=True,
              help="A test bench directory (`llm bench --tuned ... --eval-split test`).")
@click.option("--preset", default="mixed", show_default=True, help="The preset to judge.")
@click.option("--against", default="dpo", show_default=True,
              help="The baseline of the primary comparisons: a loss label of the bench, or "
                   "with --tuned a loss of the tuned.json.")
@click.option("--candidate", "candidates", multiple=True, required=True,
              help="A candidate of the primary comparisons (label, or with --tuned a loss of "
                   "the tuned.json); repeat for each. Holm's family is the candidates given.")
@click.option("--tuned", type=click.Path(path_type=Path), default=None,
              help="The tuned.json the bench tested: --against and --candidate may then name "
                   "its losses (e.g. dpo, or a loss file) instead of their chosen labels.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Family-wise error rate.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory for verdicts.json, verdicts.md and head_to_head.png.")
@click.option("--force", is_flag=True,
              help="Replace verdicts of another bench or preset already in --out.")
@friendly_errors
def verdicts_cmd(bench_dir, preset, against, candidates, tuned, alpha, out, force) -> None:
    """Judge a test bench: each candidate's win rate against the baseline, paired per test
    prompt and training seed (bootstrap over both), Holm-corrected over the candidates; and,
    exploratory, every loss against the baseline and the reference, every pair of losses,
    judged reward, KL and length."""
    from mirrorpo.fileio import read_json
    from mirrorpo.llm.tuning import read_tuned
    from mirrorpo.llm.verdicts import llm_verdicts, verdicts_markdown, write_verdicts

    if tuned is not None:
        chosen = read_tuned(tuned)["losses"]

        def label(name: str, flag: str) -> str:
            if name in chosen:
                return chosen[name]["label"]
            if name in {c["label"] for c in chosen.values()}:
                return name
            raise UserError(f"{flag}: {name!r} is not a loss of {tuned} (it has "
                            f"{', '.join(chosen)})")

        against = label(against, "--against")
        candidates = tuple(label(c, "--candidate") for c in candidates)
    saved = out / "verdicts.json"
    if saved.is_file() and not force:
        old = read_json(saved, "LLM verdicts")
        if (old.get("bench"), old.get("preset")) != (str(bench_dir), preset):
            raise UserError(f"--out: {saved} holds the verdicts of {old.get('bench')} "
                            f"({old.get('preset')}); give --force to replace them")
    record = llm_verdicts(bench_dir, preset, list(candidates), against, alpha)
    write_verdicts(record, out)
    click.echo(verdicts_markdown(record))
    console.print(f"verdicts in {out}")
