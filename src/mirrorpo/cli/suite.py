"""``mirrorpo data`` and ``eval``: preference datasets and policy scores."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from mirrorpo.cli.common import UserError, console, err_console, friendly_errors, progress_bar
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.cli.render import (
    cards_markdown,
    print_card,
    print_scores,
)
from mirrorpo.data.generate import DataConfig
from mirrorpo.envs import DEFAULT_ENV, ENV_NAMES
from mirrorpo.evaluation import EvalConfig

env_option = click.option("--env", "env_name", type=click.Choice(list(ENV_NAMES)),
                          default=DEFAULT_ENV, show_default=True,
                          help="Suite environment (Gymnasium MuJoCo v5).")


# ----------------------------------------------------------------------------- data


@click.group()
def data() -> None:
    """Preference datasets: make, show, list presets."""


@data.command("presets")
def data_presets() -> None:
    """List the dataset presets."""
    from mirrorpo.data.presets import PRESETS

    table = Table(title="dataset presets")
    for col in ("id", "pairs", "teacher", "level mix", "description"):
        table.add_column(col)
    for p in PRESETS.values():
        t = p.teacher
        teacher = f"T={t.temperature:g} ε={t.mistake_rate:g} γ={t.myopic_discount:g}"
        table.add_row(p.id, str(p.pairs), teacher, p.level_mix, p.description)
    console.print(table)


@data.command("make")
@config_options(DataConfig)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Dataset directory to create.")
@click.option("--force", is_flag=True, help="Replace a dataset already in --out.")
@friendly_errors
def data_make(out, force, **options) -> None:
    """Generate a preference dataset from the shipped ladder and reference."""
    from mirrorpo.api import make_dataset

    ds = make_dataset(from_options(DataConfig, options), out, force=force,
                      progress=progress_bar, log=err_console.print)
    print_card(ds.card)


@data.command("show")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
@friendly_errors
def data_show(directory, as_json) -> None:
    """Validate a dataset directory and print its card."""
    from mirrorpo.data.dataset import load_dataset

    ds = load_dataset(directory)
    if as_json:
        click.echo(json.dumps(ds.card, indent=2, sort_keys=True))
    else:
        print_card(ds.card)


@data.command("table")
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=Path))
@friendly_errors
def data_table(directories) -> None:
    """Print the cards of several datasets as one Markdown table (validates each)."""
    from mirrorpo.data.dataset import load_dataset

    click.echo(cards_markdown([load_dataset(d).card for d in directories]))


# ----------------------------------------------------------------------------- eval


def resolve_policy(spec_str: str, env_name: str):
    """'reference', 'ladder', 'ladder:I' or a .safetensors path → (stack, names)."""
    from mirrorpo.assets import load_ladder, load_reference
    from mirrorpo.policies import load_policies

    if spec_str == "reference":
        return load_reference(env_name), ["reference"]
    if spec_str == "ladder" or spec_str.startswith("ladder:"):
        ladder = load_ladder(env_name)
        if spec_str == "ladder":
            return ladder, [f"level {i}" for i in range(ladder.size)]
        try:
            i = int(spec_str.split(":", 1)[1])
        except ValueError:
            raise UserError(f"POLICY {spec_str!r}: level must be an integer") from None
        if not 0 <= i < ladder.size:
            raise UserError(f"POLICY {spec_str!r}: level must be in [0, {ladder.size - 1}]")
        return ladder.select(i), [f"level {i}"]
    stack, _ = load_policies(Path(spec_str))
    return stack, [f"{Path(spec_str).name}[{i}]" for i in range(stack.size)]


@click.command("eval")
@click.argument("policy")
@env_option
@config_options(EvalConfig)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the scores to this JSON file.")
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
@friendly_errors
def eval_cmd(policy, env_name, json_out, force, **options) -> None:
    """Normalised score of POLICY (sampled and mean actions, 95% bootstrap CI).

    POLICY is 'reference', 'ladder' (all levels), 'ladder:I', or a policy .safetensors file
    (every policy in it is evaluated, batched).
    """
    from mirrorpo.api import evaluate
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.outputs import check_output_file

    if json_out is not None:
        check_output_file(json_out, force=force)
    cfg = from_options(EvalConfig, options)
    episodes, seed = cfg.episodes, cfg.seed
    stack, names = resolve_policy(policy, env_name)
    try:
        scores = evaluate(stack, env_name, cfg, progress=progress_bar)
    except ValueError as exc:
        raise UserError(f"{policy}: {exc}") from None
    print_scores(names, scores, f"{env_name}: {episodes} episodes per policy")
    if json_out:
        write_text_atomic(json_out, json.dumps(
            {"env": env_name, "episodes": episodes, "seed": seed,
             "policies": {n: s.as_dict() for n, s in zip(names, scores, strict=True)}},
            indent=2))
