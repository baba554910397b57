"""``mirrorpo experts`` and ``reference``: the suite's shipped assets (ladder, reference)."""

from __future__ import annotations

from pathlib import Path

import click

from mirrorpo.cli.common import UserError, err_console, friendly_errors, progress_bar
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.cli.render import LADDER_HEAD, ladder_rows, markdown_table, print_ladder
from mirrorpo.cli.suite import env_option
from mirrorpo.reference import ReferenceConfig

RENAME = {"train_steps": "steps"}
"""``--steps``, as the command has always called the behaviour-cloning steps."""

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
@config_options(ReferenceConfig, rename=RENAME)
@click.option("--episodes", type=click.IntRange(min=2), default=30, show_default=True,
              help="Evaluation episodes.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Asset directory [default: shipped].")
@click.option("--force", is_flag=True, help="Replace an existing reference.")
@friendly_errors
def reference_train(env_name, level, episodes, out, force, **options) -> None:
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
    cfg = from_options(ReferenceConfig, options, rename=RENAME)
    seed = cfg.seed
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
