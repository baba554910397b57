"""``mirrorpo train``, ``bench``, ``meta-test`` and ``demo``: parse → config → API → render."""

from __future__ import annotations

import time
from pathlib import Path

import click

from mirrorpo.benchmark import BenchConfig
from mirrorpo.cli.common import (
    console,
    err_console,
    friendly_errors,
    progress_bar,
    threads_option,
)
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.cli.render import print_train_run
from mirrorpo.confirm import ConfirmConfig
from mirrorpo.metatest import MetaTestConfig
from mirrorpo.training.population import TrainConfig
from mirrorpo.training.run import TrainRunConfig
from mirrorpo.tuning import TuningConfig


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


LOSS_HELP = ("Loss: NAME, NAME:key=value,..., a loss-family .json file (FILE.json:beta=0.05 "
             "sets a coordinate), or "
             "package.module:function[:key=value,...]; repeatable.")


@click.command("train")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="Preference dataset directory (from `mirrorpo data make`).")
@click.option("--loss", "loss_specs", multiple=True, required=True, help=LOSS_HELP)
@config_options(TrainRunConfig)
@config_options(TrainConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--force", is_flag=True, help="Replace an existing run in --out.")
@threads_option
@friendly_errors
def train_cmd(data_dir, loss_specs, out, force, threads, **options) -> None:
    """Fine-tune the shipped reference with PO losses, population-batched, then evaluate."""
    from mirrorpo.api import train
    from mirrorpo.losses.resolve import resolve_losses
    from mirrorpo.outputs import check_output_dir
    from mirrorpo.training.run import RUN_FILE

    cfg = from_options(TrainRunConfig, options, train=from_options(TrainConfig, options))
    check_output_dir(out, RUN_FILE, "training run", force=force)
    losses = resolve_losses(loss_specs)
    set_threads(threads)
    run = train(data_dir, losses, cfg, progress=progress_bar, nthread=threads)
    run.save(out, force=force)
    print_train_run(run, f"{run.dataset_card['env']}: trained members ({cfg.episodes} "
                         "episodes each)")
    console.print(f"run saved in {out}")


@click.command("bench")
@config_options(BenchConfig)
@config_options(TrainConfig)
@click.option("--data-root", type=click.Path(path_type=Path), default=Path("runs/suite"),
              show_default=True, help="Where `mirrorpo data make` wrote the datasets.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Run directory (an interrupted run resumes with the same options).")
@click.option("--force", is_flag=True, help="Start over in --out, discarding its results.")
@threads_option
@friendly_errors
def bench_cmd(data_root, out, force, threads, **options) -> None:
    """Every loss on every preset: sweep on validation seeds, report on test seeds.

    Writes summary.md, summary.csv, members.csv and plots/ (score bars with CIs, training
    curves, log-likelihood curves) to --out.
    """
    from mirrorpo.api import bench
    from mirrorpo.benchmark import markdown_summary

    cfg = from_options(BenchConfig, options, train=from_options(TrainConfig, options))
    set_threads(threads)
    t0 = time.time()
    tables = bench(cfg, out, data_root=data_root, force=force, progress=progress_bar,
                   nthread=threads)
    click.echo(markdown_summary(tables))
    console.print(f"bench finished in {time.time() - t0:.0f}s; results in {out}")


@click.command("meta-test")
@config_options(MetaTestConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Meta-test directory (an interrupted run resumes with the same options).")
@threads_option
@friendly_errors
def meta_test_cmd(out, threads, **options) -> None:
    """Score discovered losses on fresh test seeds against the bench's tuned baselines.

    Same protocol and statistics as `mirrorpo bench`: every baseline at its validated setting
    and every discovered loss are trained on test seeds 0..N−1 and scored on the test
    episodes. Writes meta_test.md (discovered vs best tuned baseline per preset), and the
    bench outputs (summary.md/.csv, members.csv, plots/). Give several presets for the
    transfer matrix. Members of the bench and of any --reuse run are taken over instead of
    retrained (a member's result depends only on its loss, spec and seed).
    """
    from mirrorpo.api import meta_test
    from mirrorpo.benchmark import markdown_verdicts

    cfg = from_options(MetaTestConfig, options)
    set_threads(threads)
    t0 = time.time()
    verdicts = meta_test(cfg, out, progress=progress_bar, nthread=threads)
    click.echo(markdown_verdicts(verdicts))
    console.print(f"meta-test finished in {time.time() - t0:.0f}s; results in {out}")


@click.command("tune")
@config_options(TuningConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Tuning directory (an interrupted run resumes with the same options).")
@threads_option
@friendly_errors
def tune_cmd(out, threads, **options) -> None:
    """Tune baselines on meta-train draws with a budget that can stand beside a search's:
    a grid over each main hyper-parameter (extended at an edge), ε × β for cDPO/rDPO, the
    learning rate, and the training length (snapshots). Writes tuned.json with each choice
    and the training runs spent."""
    from mirrorpo.tuning import tune

    cfg = from_options(TuningConfig, options)
    set_threads(threads)
    choices = tune(cfg, out, progress=progress_bar, nthread=threads)
    for c in choices.values():
        edge = " (still on a grid edge)" if c.at_edge else ""
        console.print(f"{c.loss}: {c.spec}, lr {c.learning_rate:g}, {c.steps} steps → "
                      f"{c.score:.1f}; {c.runs} training runs{edge}")
    console.print(f"{sum(c.runs for c in choices.values())} training runs in all; "
                  f"{out / 'tuned.json'}")


@click.command("confirm")
@click.argument("more_candidates", metavar="[LOSS]...", nargs=-1)
@config_options(ConfirmConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Confirmation directory (an interrupted run resumes with the same options).")
@threads_option
@friendly_errors
def confirm_cmd(more_candidates, out, threads, **options) -> None:
    """A discovered loss against every tuned baseline on fresh draws: paired differences per
    (draw, seed) on common episodes, Holm-corrected, the pre-registered win rule, and the "is
    it just β?" controls. Refuses draws the search fitted or the tuning used. Writes
    verdicts.md, verdicts.json and scores.json.

    Further candidates may follow as arguments, so a shell glob works: `--candidates
    best.json ABL/drop-*.json`. Knock-out variants (`mirrorpo ablate`) are exploratory rows,
    compared with each candidate and baseline outside the primary verdicts."""
    from mirrorpo.confirm import confirm

    cfg = from_options(ConfirmConfig, options,
                       candidates=(*options["candidates"], *more_candidates))
    set_threads(threads)
    verdicts = confirm(cfg, out, progress=progress_bar, nthread=threads)
    click.echo((out / "verdicts.md").read_text())
    console.print(", ".join(f"{v.candidate}: {v.verdict}" for v in verdicts))


@click.command("verdicts")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Family-wise error rate.")
@click.option("--family-size", type=click.IntRange(min=1), default=None,
              help="The round's registered number of primary comparisons, when the runs "
                   "given hold fewer (targets not yet confirmed count as not rejected) "
                   "[default: the comparisons in RUNS].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the table to this markdown file.")
@click.option("--matrix", type=click.Path(path_type=Path), default=None,
              help="Also write the transfer matrix (every candidate and exploratory row on "
                   "every target, against its tuned DPO, uncorrected) to this markdown file.")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="Also draw the comparisons as a forest plot (PNG): each difference with "
                   "its corrected CI, coloured by its candidate's verdict.")
@click.option("--matrix-plot", type=click.Path(path_type=Path), default=None,
              help="Also draw the transfer matrix as a heatmap (PNG).")
@friendly_errors
def verdicts_cmd(runs, alpha, family_size, out, matrix, plot, matrix_plot) -> None:
    """The primary comparisons of several `mirrorpo confirm` runs (a round's targets) as one
    Holm–Bonferroni family: each candidate's corrected differences, verdict, and the training
    runs of both sides."""
    from mirrorpo.confirm import round_table
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.verdicts import FamilySizeError

    try:
        table = round_table(list(runs), alpha, family_size)
    except FamilySizeError as e:
        raise click.BadParameter(str(e), param_hint="--family-size") from None
    click.echo(table)
    if out is not None:
        write_text_atomic(out, table)
    if matrix is not None:
        from mirrorpo.confirm import transfer_matrix

        write_text_atomic(matrix, transfer_matrix(list(runs)))
    if matrix_plot is not None:
        from mirrorpo.confirm import transfer_cells
        from mirrorpo.plots import transfer_heatmap

        transfer_heatmap(*transfer_cells(list(runs)), "each loss against each target's tuned "
                         "DPO (paired, 95% CI, uncorrected); outlined: its own target",
                         matrix_plot)
    if plot is not None:
        from mirrorpo.confirm import forest_rows, round_verdicts
        from mirrorpo.plots import verdict_forest

        rows = forest_rows(round_verdicts(list(runs), alpha, family_size))
        verdict_forest(rows, f"{len(rows)} primary comparisons, Holm over "
                             f"{family_size or len(rows)} at α = {alpha}", plot)


@click.command()
@click.option("--env", "env_name", type=click.Choice(["hopper", "halfcheetah", "walker2d",
                                                      "ant"]), default="hopper",
              show_default=True, help="Suite environment (Gymnasium MuJoCo v5).")
@click.option("--pairs", type=click.IntRange(min=16), default=1024, show_default=True)
@click.option("--seeds", type=click.IntRange(min=2), default=3, show_default=True,
              help="Training seeds per loss.")
@click.option("--steps", type=click.IntRange(min=1), default=TrainConfig().steps,
              show_default=True, help="Optimiser steps.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/demo"),
              show_default=True, help="Where the demo's dataset, loss file, table and plots go.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@friendly_errors
def demo(env_name, pairs, seeds, steps, out, seed) -> None:
    """The whole story in one go: a noisy-20 dataset → reference vs DPO, ORPO and MPO at its
    DPO point → table (95% CIs) and plots."""
    from mirrorpo import plots
    from mirrorpo.api import DataConfig, make_dataset
    from mirrorpo.assets import load_reference
    from mirrorpo.benchmark import markdown_summary, table_rows, test_unit, unit_curves
    from mirrorpo.cli.render import print_card, print_ladder
    from mirrorpo.evaluation import NormalisedScorer
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.losses.mpo import MPOLoss, dpo_point

    t0 = time.time()
    console.rule(f"[bold]mirrorpo demo · {env_name}")
    print_ladder(env_name, None)
    data_dir = out / f"{env_name}-noisy-20-seed{seed}"
    ds = make_dataset(DataConfig(env=env_name, preset="noisy-20", pairs=pairs, seed=seed),
                      data_dir, force=True, progress=progress_bar, log=err_console.print)
    print_card(ds.card)
    mpo_file = out / "mpo-at-dpo-point.json"
    MPOLoss("mpo", dpo_point(beta=0.1)).save(mpo_file)
    losses = ("dpo:beta=0.1", "orpo:beta=0.1", str(mpo_file))
    cfg = BenchConfig(env=env_name, presets=("noisy-20",), losses=losses, seeds=seeds,
                      train=TrainConfig(steps=steps))
    set_threads(2)
    with progress_bar(f"train {len(losses)} losses × {seeds} seeds, then evaluate",
                      steps) as advance:
        unit = test_unit(cfg, {x: x for x in losses}, ds.arrays, load_reference(env_name),
                         NormalisedScorer.for_env(env_name, cfg.episodes), advance)
    tables = table_rows({"noisy-20": unit}, losses)
    md = markdown_summary(tables)
    write_text_atomic(out / "demo.md", md)
    plots.score_bars(tables["noisy-20"], f"{env_name} noisy-20 ({pairs} pairs): {seeds} seeds",
                     out / "demo_scores.png")
    curves, _ = unit_curves(unit, losses)
    plots.training_curves(curves, tables["noisy-20"]["reference"][0].mean,
                          f"{env_name} noisy-20: score along training", out / "demo_curves.png")
    click.echo(md)
    console.print(f"demo finished in {time.time() - t0:.0f}s; table and plots in {out}")
