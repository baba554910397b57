"""``mirrorpo search``, ``report`` and ``losses``: discovery over loss families."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from mirrorpo.ablation import AblationConfig
from mirrorpo.cli.common import console, friendly_errors, progress_bar, threads_option
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.cli.render import markdown_table
from mirrorpo.discovery.fitness import FitnessConfig
from mirrorpo.discovery.run import SearchConfig
from mirrorpo.training.population import TrainConfig


@click.command("search")
@config_options(SearchConfig)
@click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Search step: OpenAI-ES σ, CMA-ES σ0 [default: the strategy's].")
@click.option("--es-learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="OpenAI-ES: Adam step size on the mean [default: the strategy's].")
@config_options(FitnessConfig)
@config_options(TrainConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--resume", is_flag=True,
              help="Continue the search in --out (after Ctrl-C, a crash or a kill).")
@click.option("--backend", type=click.Choice(["local", "processes", "ray"]), default="local",
              show_default=True, help="Where fitness runs: this process (population-batched), "
                                      "local worker processes with one thread each (fastest "
                                      "on a small machine), or Ray workers; members split "
                                      "into one shard per worker. Same fitness on each.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="processes: worker processes [default: one per CPU].")
@click.option("--address", default=None,
              help="Ray: cluster address to join ('auto', 'ray://HEAD:10001') [default: start "
                   "a local Ray instance].")
@click.option("--worker-cpus", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: CPUs (torch and MuJoCo threads) per worker task.")
@threads_option
@friendly_errors
def search_cmd(sigma, es_learning_rate, out, resume, backend, workers, address, worker_cpus,
               threads, **options) -> None:
    """Evolution strategies over a loss family: fitness is the normalised return after
    training from the reference with each candidate loss. State is saved atomically after
    every generation (state.json, best.json, mean.json); --resume continues exactly."""
    import torch

    from mirrorpo.discovery.job import search
    from mirrorpo.discovery.run import strategy_options

    fitness = from_options(FitnessConfig, options, train=from_options(TrainConfig, options))
    config = from_options(SearchConfig, options, fitness=fitness,
                          strategy_options=strategy_options(options["strategy"], sigma,
                                                            es_learning_rate))
    torch.set_num_threads(threads)
    t0 = time.time()
    res = search(config, out, resume=resume, backend=backend, address=address,
                 worker_cpus=worker_cpus, workers=workers, progress=progress_bar,
                 log=console.print, nthread=threads)
    if res.best is not None:
        console.print(f"best fitness {res.best.fitness:.2f} (generation "
                      f"{res.best.generation + 1}); loss file {out / 'best.json'}")
    console.print(f"search finished in {time.time() - t0:.0f}s; state in {out / 'state.json'}")


@click.command("report")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report directory [default: RUN/report].")
@click.option("--meta-test", "meta_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo meta-test` directory whose tables join the report.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="A dataset directory: add a figure of f and g over the inputs it produces, "
                   "under the reference and after training each final loss once (seed 0, "
                   "the search's training settings).")
@threads_option
@friendly_errors
def report_cmd(run_dir, out, meta_dir, data_dir, threads) -> None:
    """Report on the search run directory RUN (complete or not), from its state.json:
    report.md, a self-contained report.html (images embedded) and PNGs of the ES curves and
    the learned mirror map, link (and TA-MPO schedules). Nothing is trained or evaluated,
    except with --data: the final mean and best loss train once each (one member, seed 0)
    for the inputs figure."""
    import torch

    from mirrorpo.api import report

    torch.set_num_threads(threads)
    target = report(run_dir, out, meta_test=meta_dir, data=data_dir)
    console.print(f"report written to {target / 'report.html'} (and report.md, PNGs)")


@click.command("ablate")
@config_options(AblationConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory of the variants (drop-<term>.json) and manifest.json.")
@click.option("--force", is_flag=True, help="Replace an existing ablation in --out.")
@friendly_errors
def ablate_cmd(out, force, **options) -> None:
    """Knock-out variants of a discovered MPO/TA-MPO loss: each drops one term (sets it to its
    neutral value, docs/mpo.md "Knock-out terms") and keeps the rest, β included. Writes
    OUT/drop-<term>.json (loss files carrying the original's fitted_on) and OUT/manifest.json;
    terms already neutral are skipped. Re-test them with `mirrorpo confirm --candidates LOSS
    OUT/drop-*.json ...` (exploratory rows)."""
    from mirrorpo.api import ablate

    found = ablate(from_options(AblationConfig, options), out, force=force)
    for v in found:
        if v.loss is None:
            console.print(f"{v.label}: skipped, {v.term.part} already neutral")
        else:
            change = ", ".join(f"{n} {a:.4g} → {b:.4g}" for n, (a, b) in v.changes.items())
            console.print(f"{v.label}: {change}")
    made = sum(v.loss is not None for v in found)
    console.print(f"{made} variants in {out} (manifest.json); {len(found) - made} skipped")


@click.command("distill")
@click.option("--ablated", "ablated", multiple=True, required=True,
              metavar="CONFIRM_DIR=LOSS_FILE",
              help="A finished confirmation with knock-out rows of LOSS_FILE (one of its "
                   "candidates; variants made by `mirrorpo ablate` and added with "
                   "--exploratory). Repeat for several ablated losses.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The distilled loss file (MPO/TA-MPO JSON, β = 0.1 to be tuned); the "
                   "evidence table goes beside it as OUT.md.")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
@friendly_errors
def distill_cmd(ablated, out, force) -> None:
    """One closed-form loss from knock-out ablations, by the rule of docs/protocol.md
    ("Distilling a closed-form loss"): the (at most two) supported axes among a partial
    reference weight, the length power, a margin, an imitation weight and one anchor, at the
    ablated losses' medians, with a bounded link. Prints the evidence per axis and the loss."""
    from mirrorpo.distill import distill_runs, report
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.outputs import check_output_file

    pairs = []
    for item in ablated:
        run, sep, loss = item.partition("=")
        if not sep or not run or not loss:
            raise click.BadParameter(f"{item!r}: expected CONFIRM_DIR=LOSS_FILE",
                                     param_hint="--ablated")
        pairs.append((run, loss))
    check_output_file(out, force=force)
    check_output_file(out.with_suffix(".md"), force=force)
    result = distill_runs(pairs)
    text = report(result)
    click.echo(text)
    write_text_atomic(out.with_suffix(".md"), text)
    if result.loss is not None:
        result.loss.save(out)
        console.print(f"distilled loss in {out}; evidence in {out.with_suffix('.md')}")


@click.command("losses")
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead.")
def losses_cmd(markdown) -> None:
    """List the registered preference losses, their defaults, valid ranges and formulas."""
    rows = loss_rows()
    head = ("loss", "uses π_ref", "defaults (TRL names)", "valid ranges", "formula and source")
    if markdown:
        click.echo(markdown_table(head, rows))
        return
    table = Table(title="registered losses (mirrorpo.losses)")
    for col in head:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def loss_rows() -> list[tuple[str, ...]]:
    """One row per registered loss, from the registry (name, reference use, defaults, ranges,
    doc)."""
    from mirrorpo.losses import LOSSES

    rows = []
    for name in sorted(LOSSES):
        spec = LOSSES[name]
        doc = " ".join((spec.fn.__doc__ or "").split())
        defaults = ", ".join(f"{k}={v:g}" for k, v in spec.defaults.items()) or "—"
        ranges = ", ".join(f"{k} {r.describe()}" for k, r in spec.ranges.items()) or "—"
        rows.append((name, "yes" if spec.uses_reference else "no", defaults, ranges, doc))
    return rows
