"""``mirrorpo experts``, ``reference``, ``data`` and ``eval``: the suite's assets, datasets and
policy scores."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from mirrorpo.cli.common import UserError, console, err_console, friendly_errors, progress_bar
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.cli.render import (
    LADDER_HEAD,
    cards_markdown,
    ladder_rows,
    markdown_table,
    print_card,
    print_ladder,
    print_scores,
)
from mirrorpo.data.generate import DataConfig
from mirrorpo.envs import DEFAULT_ENV, ENV_NAMES

env_option = click.option("--env", "env_name", type=click.Choice(list(ENV_NAMES)),
                          default=DEFAULT_ENV, show_default=True,
                          help="Suite environment (Gymnasium MuJoCo v5).")


# ----------------------------------------------------------------------------- experts


@click.group()
def experts() -> None:
    """Train experts (SB3 PPO) and build the quality ladder of graded policies."""


@experts.command("train")
@env_option
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Environment steps of PPO training [default: per-env config].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Where checkpoints go [default: runs/experts/ENV].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Asset directory for ladder.safetensors + suite.json [default: shipped].")
@click.option("--force", is_flag=True, help="Replace an existing ladder in --out.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from resume.pt.")
@friendly_errors
def experts_train(env_name, steps, seed, run_dir, out, force, resume) -> None:
    """Train a PPO expert, then build and measure its ladder (see `experts ladder`)."""
    import torch

    from mirrorpo.envs import get_spec
    from mirrorpo.experts import EXPERT_CONFIGS, train_expert

    torch.set_num_threads(1)
    run_dir = run_dir or Path("runs/experts") / env_name
    _refuse_existing_ladder(env_name, out, force)
    total = steps or EXPERT_CONFIGS[get_spec(env_name).name].total_env_steps
    with progress_bar(f"PPO {env_name}", total) as advance:
        ckpts = train_expert(env_name, run_dir, seed=seed, total_env_steps=steps, resume=resume,
                             log=lambda m: err_console.print(m), progress=advance)
    _write_ladder(env_name, ckpts, out, seed)


@experts.command("ladder")
@env_option
@click.option("--checkpoints", type=click.Path(path_type=Path, exists=True, file_okay=False),
              required=True, help="Directory of ckpt_*.safetensors from `experts train`.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Replace an existing ladder in --out.")
@friendly_errors
def experts_ladder(env_name, checkpoints, seed, out, force) -> None:
    """Choose 6 levels of graded skill (≥6 checkpoints + noisy copies), measure, write."""
    ckpts = sorted(checkpoints.glob("ckpt_*.safetensors"))
    if len(ckpts) < 6:
        raise UserError(f"{checkpoints}: need at least 6 checkpoints, found {len(ckpts)}")
    _refuse_existing_ladder(env_name, out, force)
    _write_ladder(env_name, ckpts, out, seed)


def _refuse_existing_ladder(env_name: str, out: Path | None, force: bool) -> None:
    from mirrorpo.assets import LADDER_FILE, asset_dir
    from mirrorpo.outputs import check_writable

    target = (out or asset_dir(env_name)) / LADDER_FILE
    check_writable(target)
    if target.exists() and not force:
        raise UserError(f"{target}: a ladder already exists (use --force to replace it)")


def _write_ladder(env_name: str, ckpts: list[Path], out: Path | None, seed: int) -> None:
    from mirrorpo.assets import LADDER_FILE, asset_dir, load_suite_info, write_suite_info
    from mirrorpo.experts import build_ladder
    from mirrorpo.policies import save_policies

    ladder, suite = build_ladder(env_name, ckpts, seed=seed, log=lambda m: err_console.print(m))
    root = out or asset_dir(env_name)
    root.mkdir(parents=True, exist_ok=True)
    try:  # keep a reference entry measured earlier, flagged as against an older ladder
        old = load_suite_info(env_name, root).reference
        if old is not None:
            suite["reference"] = {**old, "stale": "ladder rebuilt after this was measured"}
    except FileNotFoundError:
        pass
    save_policies(root / LADDER_FILE, ladder, {"env": env_name, "levels": suite["ladder"]})
    write_suite_info(env_name, suite, root)
    print_ladder(env_name, root)


@experts.command("show")
@env_option
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead.")
@friendly_errors
def experts_show(env_name, markdown) -> None:
    """Print the shipped ladder and reference with their measured returns."""
    if markdown:
        from mirrorpo.assets import load_suite_info

        info = load_suite_info(env_name)
        click.echo(f"{env_name}: random return {info.random_return:.1f}, "
                   f"expert return {info.expert_return:.1f}\n")
        click.echo(markdown_table(LADDER_HEAD, ladder_rows(info)))
        return
    print_ladder(env_name, None)


# ----------------------------------------------------------------------------- reference


@click.group()
def reference() -> None:
    """The reference policy π_ref (behaviour cloning of a mid-ladder policy)."""


@reference.command("train")
@env_option
@click.option("--level", type=click.IntRange(min=0), default=None,
              help="Ladder level to imitate [default: the one scoring nearest 50].")
@click.option("--steps", type=click.IntRange(min=1), default=4000, show_default=True)
@click.option("--episodes", type=click.IntRange(min=2), default=30, show_default=True,
              help="Evaluation episodes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Asset directory [default: shipped].")
@click.option("--force", is_flag=True, help="Replace an existing reference.")
@friendly_errors
def reference_train(env_name, level, steps, episodes, seed, out, force) -> None:
    """Behaviour-clone a mid-ladder policy, evaluate it and save it beside the ladder."""
    import torch

    from mirrorpo.assets import (
        REFERENCE_FILE,
        asset_dir,
        load_ladder,
        load_suite_info,
        write_suite_info,
    )
    from mirrorpo.envs import get_spec
    from mirrorpo.evaluation import score_policies
    from mirrorpo.outputs import check_writable
    from mirrorpo.policies import load_policies, save_policies
    from mirrorpo.reference import (
        ReferenceConfig,
        behaviour_clone,
        collect_demos,
        pick_demonstrator_level,
        reference_record,
    )

    torch.set_num_threads(1)
    root = out or asset_dir(env_name)
    check_writable(root / REFERENCE_FILE)
    if (root / REFERENCE_FILE).exists() and not force:
        raise UserError(f"{root / REFERENCE_FILE}: already exists (use --force to replace it)")
    info = load_suite_info(env_name, root)
    ladder = load_ladder(env_name, root)
    level = pick_demonstrator_level(info.ladder) if level is None else level
    if not 0 <= level < ladder.size:
        raise UserError(f"--level must be in [0, {ladder.size - 1}]")
    cfg = ReferenceConfig(train_steps=steps, seed=seed)
    obs, act = collect_demos(get_spec(env_name), ladder.select(level), cfg.demo_episodes, seed)
    err_console.print(f"{len(obs)} demonstration steps from level {level}")
    with progress_bar("behaviour cloning", cfg.train_steps) as advance:
        ref = behaviour_clone(obs, act, cfg, log=lambda m: None, progress=advance)
    tmp = root / (REFERENCE_FILE + ".new")
    save_policies(tmp, ref, {"env": env_name, "demonstrator_level": level})
    shipped, _ = load_policies(tmp)  # score exactly what is shipped (float32 layers)
    score = score_policies(env_name, shipped, episodes=episodes, seed=seed + 30_000,
                           progress=progress_bar)[0]
    tmp.replace(root / REFERENCE_FILE)
    raw = dict(info.raw)
    raw["reference"] = reference_record(cfg, level, len(obs), score.as_dict())
    raw["reference"]["episodes"] = episodes
    write_suite_info(env_name, raw, root)
    print_ladder(env_name, root)


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
@click.option("--episodes", type=click.IntRange(min=2), default=10, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Episode k starts from env.reset(seed=SEED+k).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the scores to this JSON file.")
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
@friendly_errors
def eval_cmd(policy, env_name, episodes, seed, json_out, force) -> None:
    """Normalised score of POLICY (sampled and mean actions, 95% bootstrap CI).

    POLICY is 'reference', 'ladder' (all levels), 'ladder:I', or a policy .safetensors file
    (every policy in it is evaluated, batched).
    """
    from mirrorpo.api import evaluate
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.outputs import check_output_file

    if json_out is not None:
        check_output_file(json_out, force=force)
    stack, names = resolve_policy(policy, env_name)
    try:
        scores = evaluate(stack, env_name, episodes=episodes, seed=seed, progress=progress_bar)
    except ValueError as exc:
        raise UserError(f"{policy}: {exc}") from None
    print_scores(names, scores, f"{env_name}: {episodes} episodes per policy")
    if json_out:
        write_text_atomic(json_out, json.dumps(
            {"env": env_name, "episodes": episodes, "seed": seed,
             "policies": {n: s.as_dict() for n, s in zip(names, scores, strict=True)}},
            indent=2))
