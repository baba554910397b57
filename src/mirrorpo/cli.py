"""The ``mirrorpo`` command line: a thin layer over the library (nothing imports it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.table import Table

from mirrorpo import __version__
from mirrorpo.cli_common import UserError, console, err_console, friendly_errors, progress_bar
from mirrorpo.envs import DEFAULT_ENV, ENV_NAMES

ENV_CHOICE = click.Choice(list(ENV_NAMES), case_sensitive=False)
env_option = click.option(
    "--env", "env_name", type=ENV_CHOICE, default=DEFAULT_ENV, show_default=True,
    help="Suite environment (Gymnasium MuJoCo v5).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mirrorpo")
def main() -> None:
    """mirrorpo: preference-optimization objectives on a controlled MuJoCo suite.

    Start with `mirrorpo demo`. Every command has --help.
    """


# ----------------------------------------------------------------------------- experts


@main.group()
def experts() -> None:
    """Train experts (SB3 PPO) and build the quality ladder of graded policies."""


@experts.command("train")
@env_option
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Environment steps of PPO training [default: per-env config].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where checkpoints go [default: runs/experts/ENV].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Asset directory for ladder.safetensors + suite.json [default: shipped].",
)
@click.option("--force", is_flag=True, help="Replace an existing ladder in --out.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from resume.pt.")
@friendly_errors
def experts_train(env_name, steps, seed, run_dir, out, force, resume) -> None:
    """Train a PPO expert, then build and measure its ladder (see `experts ladder`)."""
    import torch

    from mirrorpo.experts import train_expert

    torch.set_num_threads(1)
    run_dir = run_dir or Path("runs/experts") / env_name
    _refuse_existing_ladder(env_name, out, force)
    from mirrorpo.envs import get_spec
    from mirrorpo.experts import EXPERT_CONFIGS

    total = steps or EXPERT_CONFIGS[get_spec(env_name).name].total_env_steps
    with progress_bar(f"PPO {env_name}", total) as advance:
        ckpts = train_expert(
            env_name, run_dir, seed=seed, total_env_steps=steps, resume=resume,
            log=lambda m: err_console.print(m), progress=advance,
        )
    _write_ladder(env_name, ckpts, out, seed)


@experts.command("ladder")
@env_option
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="Directory of ckpt_*.safetensors from `experts train`.",
)
@click.option("--seed", type=int, default=0, show_default=True)
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

    target = (out or asset_dir(env_name)) / LADDER_FILE
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
    _print_ladder(env_name, root)


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
    _print_ladder(env_name, None)


LADDER_HEAD = ("level", "source", "env steps", "return", "score", "95% CI")


def markdown_table(head, rows) -> str:
    """A Markdown table from a header and rows of strings."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def ladder_rows(info) -> list[tuple[str, ...]]:
    """Rows (level, source, steps, return, score, CI) of the ladder, then the reference."""
    rows = []
    for lv in info.ladder:
        lo, hi = lv["score_ci95"]
        rows.append((str(lv["level"]), lv["source"], f"{lv['env_steps']:,}",
                     f"{lv['return_mean']:.1f}", f"{lv['score']:.1f}", f"[{lo:.1f}, {hi:.1f}]"))
    if info.reference:
        ref = info.reference
        lo, hi = ref["score_sampled_ci95"]
        rows.append(("ref", f"BC of level {ref['demonstrator_level']}", "",
                     f"{ref['return_sampled']:.1f}", f"{ref['score_sampled']:.1f}",
                     f"[{lo:.1f}, {hi:.1f}]"))
    return rows


def _print_ladder(env_name: str, root: Path | None) -> None:
    from mirrorpo.assets import load_suite_info

    info = load_suite_info(env_name, root)
    table = Table(
        title=f"{env_name}: random {info.random_return:.1f}, expert {info.expert_return:.1f}"
    )
    for col in LADDER_HEAD:
        table.add_column(col, justify="right")
    for row in ladder_rows(info):
        table.add_row(*row)
    console.print(table)


# ----------------------------------------------------------------------------- reference


@main.group()
def reference() -> None:
    """The reference policy π_ref (behaviour cloning of a mid-ladder policy)."""


@reference.command("train")
@env_option
@click.option(
    "--level",
    type=int,
    default=None,
    help="Ladder level to imitate [default: the one scoring nearest 50].",
)
@click.option("--steps", type=click.IntRange(min=1), default=4000, show_default=True)
@click.option(
    "--episodes",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Evaluation episodes.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Asset directory [default: shipped].",
)
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
    if (root / REFERENCE_FILE).exists() and not force:
        raise UserError(f"{root / REFERENCE_FILE}: already exists (use --force to replace it)")
    info = load_suite_info(env_name, root)
    ladder = load_ladder(env_name, root)
    level = pick_demonstrator_level(info.ladder) if level is None else level
    if not 0 <= level < ladder.size:
        raise UserError(f"--level must be in [0, {ladder.size - 1}]")
    spec = get_spec(env_name)
    cfg = ReferenceConfig(train_steps=steps, seed=seed)
    obs, act = collect_demos(spec, ladder.select(level), cfg.demo_episodes, seed)
    err_console.print(f"{len(obs)} demonstration steps from level {level}")
    with progress_bar("behaviour cloning", cfg.train_steps) as advance:
        ref = behaviour_clone(obs, act, cfg, log=lambda m: None, progress=advance)
    tmp = root / (REFERENCE_FILE + ".new")
    save_policies(tmp, ref, {"env": env_name, "demonstrator_level": level})
    shipped, _ = load_policies(tmp)  # score exactly what is shipped (float32 layers)
    score = _score_with_bar(spec, shipped, info, episodes, seed + 30_000)[0]
    tmp.replace(root / REFERENCE_FILE)
    raw = dict(info.raw)
    raw["reference"] = reference_record(cfg, level, len(obs), score.as_dict())
    raw["reference"]["episodes"] = episodes
    write_suite_info(env_name, raw, root)
    _print_ladder(env_name, root)


# ----------------------------------------------------------------------------- data


@main.group()
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


def make_dataset_cli(env_name, preset_name, pairs, horizon, seed, out, force):
    from mirrorpo.data.dataset import is_dataset_dir, save_dataset
    from mirrorpo.data.generate import CHUNK_PAIRS, load_suite_context, make_dataset
    from mirrorpo.data.presets import get_preset

    preset = get_preset(preset_name)
    pairs = preset.pairs if pairs is None else pairs
    if horizon is None:
        from mirrorpo.envs import get_spec

        horizon = get_spec(env_name).segment_horizon
    if out.exists() and is_dataset_dir(out) and not force:
        raise UserError(f"{out}: already holds a dataset (use --force to replace it)")
    ctx = load_suite_context(env_name)
    chunks = -(-int(pairs * 1.05 + 8) // CHUNK_PAIRS)
    t0 = time.time()
    with progress_bar(
        f"data {env_name}/{preset.id}", ctx.spec.max_episode_steps + chunks * horizon
    ) as advance:
        ds = make_dataset(
            ctx, preset, num_pairs=pairs, horizon=horizon, seed=seed, progress=advance
        )
    save_dataset(out, ds.arrays, ds.card, overwrite=force)
    err_console.print(f"wrote {out} in {time.time() - t0:.1f}s")
    return ds


@data.command("make")
@env_option
@click.option(
    "--preset",
    "preset_name",
    default="clean",
    show_default=True,
    help="Preset name (see `mirrorpo data presets`).",
)
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=None,
    help="Number of pairs [default: the preset's, 5120 for most].",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1, max=1000),
    default=None,
    help="Segment length H in env steps [default: the env's: hopper 300, walker2d 200, "
    "halfcheetah and ant 100].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Dataset directory to create."
)
@click.option("--force", is_flag=True, help="Replace a dataset already in --out.")
@friendly_errors
def data_make(env_name, preset_name, pairs, horizon, seed, out, force) -> None:
    """Generate a preference dataset from the shipped ladder and reference."""
    ds = make_dataset_cli(env_name, preset_name, pairs, horizon, seed, out, force)
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


CARD_COLUMNS = (
    ("preset", lambda c: c["preset"]),
    ("pairs", lambda c: str(c["num_pairs"])),
    ("H", lambda c: str(c["horizon"])),
    ("agreement", lambda c: f"{c['properties']['label_agreement']:.3f}"),
    ("score chosen", lambda c: f"{c['properties']['mean_score_chosen']:.1f}"),
    ("score rejected", lambda c: f"{c['properties']['mean_score_rejected']:.1f}"),
    (
        "chosen per level",
        lambda c: " ".join(map(str, c["properties"]["count_per_level"]["chosen"])),
    ),
    (
        "rejected per level",
        lambda c: " ".join(map(str, c["properties"]["count_per_level"]["rejected"])),
    ),
    (
        "dropped",
        lambda c: str(c["properties"]["dropped_equal"] + c["properties"]["dropped_skipped"]),
    ),
    ("terminated", lambda c: f"{c['properties']['terminated_fraction']:.3f}"),
)


def cards_markdown(cards: list[dict]) -> str:
    """One Markdown table row per dataset card."""
    return markdown_table(
        [name for name, _ in CARD_COLUMNS], [[fn(c) for _, fn in CARD_COLUMNS] for c in cards]
    )


@data.command("table")
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=Path))
@friendly_errors
def data_table(directories) -> None:
    """Print the cards of several datasets as one Markdown table (validates each)."""
    from mirrorpo.data.dataset import load_dataset

    click.echo(cards_markdown([load_dataset(d).card for d in directories]))


def print_card(card: dict) -> None:
    p = card["properties"]
    t = card["teacher"]
    title = f"{card['env']} · {card['preset']} · seed {card['seed']}"
    table = Table(title=title, show_header=False)
    table.add_column("property")
    table.add_column("value", justify="right")
    rows = [
        ("pairs × horizon", f"{card['num_pairs']} × {card['horizon']}"),
        (
            "teacher",
            f"T={t['temperature']:g}, ε={t['mistake_rate']:g}, "
            f"γ={t['myopic_discount']:g}, mix={card['level_mix']}",
        ),
        ("label agreement with true return", f"{p['label_agreement']:.3f}"),
        (
            "mean score chosen / rejected",
            f"{p['mean_score_chosen']:.1f} / {p['mean_score_rejected']:.1f}",
        ),
        (
            "mean return chosen / rejected",
            f"{p['mean_return_chosen']:.1f} / {p['mean_return_rejected']:.1f}",
        ),
        ("chosen per level", " ".join(map(str, p["count_per_level"]["chosen"]))),
        ("rejected per level", " ".join(map(str, p["count_per_level"]["rejected"]))),
        (
            "candidates / dropped equal / skipped",
            f"{p['candidates']} / {p['dropped_equal']} / {p['dropped_skipped']}",
        ),
        ("mean segment length", f"{p['mean_segment_length']:.1f}"),
        ("terminated segments", f"{p['terminated_fraction']:.3f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


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


@main.command("eval")
@click.argument("policy")
@env_option
@click.option("--episodes", type=click.IntRange(min=2), default=10, show_default=True)
@click.option(
    "--seed",
    type=int,
    default=100_000,
    show_default=True,
    help="Episode k starts from env.reset(seed=SEED+k).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the scores to this JSON file.",
)
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
@friendly_errors
def eval_cmd(policy, env_name, episodes, seed, json_out, force) -> None:
    """Normalised score of POLICY (sampled and mean actions, 95% bootstrap CI).

    POLICY is 'reference', 'ladder' (all levels), 'ladder:I', or a policy .safetensors file
    (every policy in it is evaluated, batched).
    """
    from mirrorpo.assets import load_suite_info
    from mirrorpo.envs import get_spec

    spec = get_spec(env_name)
    if json_out is not None and json_out.exists() and not force:
        raise UserError(f"{json_out}: already exists (use --force to replace it)")
    stack, names = resolve_policy(policy, env_name)
    if stack.obs_dim != spec.obs_dim or stack.act_dim != spec.act_dim:
        raise UserError(
            f"{policy}: policy is for obs/act dims {stack.obs_dim}/{stack.act_dim}, "
            f"env {env_name} has {spec.obs_dim}/{spec.act_dim}"
        )
    info = load_suite_info(env_name)
    scores = _score_with_bar(spec, stack, info, episodes, seed)
    print_scores(names, scores, f"{env_name}: {episodes} episodes per policy")
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "env": env_name,
                    "episodes": episodes,
                    "seed": seed,
                    "policies": {n: s.as_dict() for n, s in zip(names, scores, strict=True)},
                },
                indent=2,
            )
        )


def _score_with_bar(spec, stack, info, episodes, seed):
    from mirrorpo.evaluation import score_population

    with progress_bar(f"eval {stack.size}×{episodes}", 2 * spec.max_episode_steps) as advance:
        return score_population(
            spec,
            stack,
            info.random_return,
            info.expert_return,
            episodes=episodes,
            seed=seed,
            progress=advance,
        )


def print_scores(names, scores, title) -> None:
    table = Table(title=title)
    for col in ("policy", "score, sampled [95% CI]", "score, mean action [95% CI]", "return"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, s in zip(names, scores, strict=True):
        table.add_row(
            name,
            f"{s.sampled_mean:.1f} {_ci(s.sampled_ci)}",
            f"{s.mean_action_mean:.1f} {_ci(s.mean_action_ci)}",
            f"{s.sampled_return:.1f}",
        )
    console.print(table)


def _ci(ci) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]"


# ----------------------------------------------------------------------------- train


@main.command("train")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="Preference dataset directory (from `mirrorpo data make`).")
@click.option("--loss", "loss_specs", multiple=True, required=True,
              help="Loss: NAME, NAME:key=value,... or an MPO/TA-MPO .json file; repeatable.")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Training seeds per loss (members = losses × seeds).")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--batch-pairs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True)
@click.option("--episodes", type=click.IntRange(min=2), default=10, show_default=True,
              help="Evaluation episodes per member.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--force", is_flag=True, help="Replace an existing run in --out.")
@friendly_errors
def train_cmd(data_dir, loss_specs, seeds, steps, batch_pairs, learning_rate, episodes, out,
              force) -> None:
    """Fine-tune the shipped reference with PO losses, population-batched, then evaluate."""
    import torch

    from mirrorpo.assets import load_reference, load_suite_info
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.envs import get_spec
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.policies import save_policies
    from mirrorpo.train.members import parse_loss_spec
    from mirrorpo.train.population import LOG_KEYS, TrainConfig, train_population

    if (out / "run.json").exists() and not force:
        raise UserError(f"{out}: already holds a run (use --force to replace it)")
    ds = load_dataset(data_dir)
    env_name = ds.card["env"]
    parsed = [parse_loss_spec(s) for s in loss_specs]
    names = [f"{label}/seed{k}" for label, _ in parsed for k in range(seeds)]
    losses = [fn for _, fn in parsed for _ in range(seeds)]
    member_seeds = [k for _ in parsed for k in range(seeds)]
    cfg = TrainConfig(steps=steps, batch_pairs=batch_pairs, learning_rate=learning_rate)
    torch.set_num_threads(2)
    with progress_bar(f"train {len(names)} members", steps) as advance:
        res = train_population(load_reference(env_name), ds.arrays, losses, member_seeds, cfg,
                               progress=advance)
    spec, info = get_spec(env_name), load_suite_info(env_name)
    stack = res.policy.to_stack()
    scores = _score_with_bar(spec, stack, info, episodes, 200_000)
    out.mkdir(parents=True, exist_ok=True)
    save_policies(out / "policies.safetensors", stack, {"env": env_name, "members": names})
    log = res.log
    members = {
        n: {
            "loss_spec": spec_str, "seed": seed, "failed": bool(res.failed[i]),
            "fail_reason": res.fail_reason[i],
            **({"score_sampled": float("-inf")} if res.failed[i] else scores[i].as_dict()),
            "curves": {k: [float(row[i]) for row in getattr(log, k)] for k in LOG_KEYS},
        }
        for i, (n, spec_str, seed) in enumerate(zip(
            names, [s for s in loss_specs for _ in range(seeds)], member_seeds, strict=True))
    }
    run = {"data": str(data_dir), "dataset_card": ds.card, "config": cfg.__dict__,
           "episodes": episodes, "eval_seed": 200_000, "curve_steps": log.steps,
           "members": members}
    write_text_atomic(out / "run.json", json.dumps(run, indent=2, default=str))
    print_scores(names, scores, f"{env_name}: trained members ({episodes} episodes each)")
    for name, bad, reason in zip(names, res.failed, res.fail_reason, strict=True):
        if bad:
            console.print(f"[red]{name} failed:[/red] {reason}")


# ----------------------------------------------------------------------------- bench


def _threads_option(fn):
    """``--threads N``: torch and MuJoCo threads of this process (default 2, the machine's
    cores; pin two runs side by side to one core each with ``taskset`` and ``--threads 1``)."""
    return click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
                        help="torch and MuJoCo threads of this process.")(fn)


def _csv_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@main.command("bench")
@env_option
@click.option("--presets", default="clean,noisy-20,mixed", show_default=True,
              help="Comma-separated presets; each dataset is read from DATA_ROOT/ENV/PRESET.")
@click.option("--data-root", type=click.Path(path_type=Path), default=Path("runs/suite"),
              show_default=True, help="Where `mirrorpo data make` wrote the datasets.")
@click.option("--losses", "losses", default=None,
              help="Comma-separated loss specs [default: every registered loss]. A bare name "
                   "is swept over its main hyper-parameter on validation seeds.")
@click.option("--seeds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Test training seeds per loss (reported).")
@click.option("--val-seeds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Validation training seeds per swept value (used only to choose it).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps [default: TrainConfig's].")
@click.option("--batch-pairs", type=click.IntRange(min=1), default=None)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--episodes", type=click.IntRange(min=2), default=10, show_default=True,
              help="Evaluation episodes per member.")
@click.option("--curve-points", type=click.IntRange(min=1, max=12), default=4,
              show_default=True, help="Test-phase snapshots at steps/2^k, k < N.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Run directory (an interrupted run resumes with the same options).")
@click.option("--force", is_flag=True, help="Start over in --out, discarding its results.")
@_threads_option
@friendly_errors
def bench_cmd(env_name, presets, data_root, losses, seeds, val_seeds, steps, batch_pairs,
              learning_rate, episodes, curve_points, out, force, threads) -> None:
    """Every loss on every preset: sweep on validation seeds, report on test seeds.

    Writes summary.md, summary.csv, members.csv and plots/ (score bars with CIs, training
    curves, log-likelihood curves) to --out.
    """
    import shutil

    import torch

    from mirrorpo.assets import load_reference
    from mirrorpo.bench import BenchConfig, BenchRun, sweep_specs, test_unit, validation_unit
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.losses import LOSSES
    from mirrorpo.train.members import parse_loss_spec
    from mirrorpo.train.population import TrainConfig

    preset_list = _csv_list(presets)
    loss_list = _csv_list(losses) if losses else tuple(sorted(LOSSES))
    for spec in loss_list:
        parse_loss_spec(spec)  # fail fast on a bad spec
    if not preset_list or not loss_list:
        raise UserError("--presets and --losses need at least one entry each")
    defaults = TrainConfig()
    train = TrainConfig(steps=steps or defaults.steps,
                        batch_pairs=batch_pairs or defaults.batch_pairs,
                        learning_rate=learning_rate or defaults.learning_rate)
    cfg = BenchConfig(env=env_name, presets=preset_list, losses=loss_list, seeds=seeds,
                      val_seeds=val_seeds, episodes=episodes, train=train,
                      curve_points=curve_points)
    datasets = {}
    for preset in preset_list:
        d = data_root / env_name / preset
        if not (d / "pairs.npz").exists():
            raise UserError(f"{d}: no dataset (make it with `mirrorpo data make --env "
                            f"{env_name} --preset {preset} --out {d}`)")
        datasets[preset] = d
    if force and out.exists():
        shutil.rmtree(out / "units", ignore_errors=True)
    run = BenchRun.create(out, cfg, force=force)
    torch.set_num_threads(threads)
    reference = load_reference(env_name)
    scorer = _scorer(env_name, episodes, nthread=threads)
    t0 = time.time()
    for preset in preset_list:
        ds = load_dataset(datasets[preset])
        if ds.card["env"] != env_name:
            raise UserError(f"{datasets[preset]}: a {ds.card['env']} dataset, not {env_name}")
        val = run.load(preset, "validation")
        if val is None:
            n = sum(len(sweep_specs(s)) for s in loss_list) * val_seeds
            with progress_bar(f"{preset}: validation, {n} members", train.steps) as adv:
                val = validation_unit(cfg, ds.arrays, reference, scorer, adv)
            run.save(preset, "validation", val)
        if run.load(preset, "test") is None:
            n = len(loss_list) * seeds
            with progress_bar(f"{preset}: test, {n} members", train.steps) as adv:
                run.save(preset, "test", test_unit(cfg, val["chosen"], ds.arrays, reference,
                                                   scorer, adv))
    _render_bench(run)
    console.print(f"bench finished in {time.time() - t0:.0f}s; results in {out}")


def _scorer(env_name: str, episodes: int, mean_action: bool = True,
            nthread: int | None = None):
    """(policies, eval seed) → (sampled, mean-action) normalised scores (NormalisedScorer)."""
    from mirrorpo.evaluation import NormalisedScorer

    return NormalisedScorer.for_env(env_name, episodes, mean_action=mean_action,
                                    nthread=nthread)


def _render_bench(run) -> None:
    """summary.md/.csv, members.csv and plots/ from a run's saved units."""
    from mirrorpo import plots
    from mirrorpo.bench import (
        REFERENCE,
        markdown_summary,
        summary_records,
        table_rows,
        unit_curves,
    )
    from mirrorpo.fileio import write_csv_atomic, write_text_atomic

    cfg = run.cfg
    units = {p: run.load(p, "test") for p in cfg.presets}
    units = {p: u for p, u in units.items() if u is not None}
    tables = table_rows(units, cfg.losses)
    md = markdown_summary(tables)
    write_text_atomic(run.root / "summary.md", md)
    records = summary_records(tables)
    write_csv_atomic(run.root / "summary.csv", records)
    members = []
    for phase in ("validation", "test"):
        for p in cfg.presets:
            unit = run.load(p, phase) or {"members": []}
            for m in unit["members"]:
                members.append({"phase": phase, "preset": p, "loss": m["loss"],
                                "spec": m["spec"], "seed": m["seed"], "failed": m["failed"],
                                "score": m["score"],
                                "score_mean_action": m["score_mean_action"]})
    write_csv_atomic(run.root / "members.csv", members)
    (run.root / "plots").mkdir(exist_ok=True)
    for preset, unit in units.items():
        slug = preset.replace("/", "_")
        plots.score_bars(tables[preset], f"{cfg.env} {preset}: test seeds",
                         run.root / "plots" / f"bars_{slug}.png")
        curves, logs = unit_curves(unit, cfg.losses)
        ref = tables[preset][REFERENCE][0].mean
        plots.training_curves(curves, ref, f"{cfg.env} {preset}: score along training",
                              run.root / "plots" / f"curves_{slug}.png")
        log_steps = unit["members"][0]["log_steps"]
        plots.logp_curves(logs, log_steps, f"{cfg.env} {preset}: log-ratios to the reference "
                          "(mean over seeds)", run.root / "plots" / f"logps_{slug}.png")
    click.echo(md)


# ----------------------------------------------------------------------------- meta-test


def _discovered_label(path: Path) -> str:
    """runs/search/halfcheetah-mixed/mean.json → halfcheetah-mixed-mean."""
    parent = path.resolve().parent.name
    return f"{parent}-{path.stem}" if parent else path.stem


@main.command("meta-test")
@click.option("--bench", "bench_dir", type=click.Path(path_type=Path), required=True,
              help="A finished `mirrorpo bench` run: its tuned baselines (validation choices, "
                   "and test members that are reused, not retrained).")
@click.option("--losses", "loss_files", required=True,
              help="Comma-separated discovered loss files (e.g. RUN/mean.json, RUN/best.json).")
@click.option("--presets", default=None,
              help="Comma-separated presets of the bench run [default: all of them].")
@click.option("--seeds", type=click.IntRange(min=2), default=10, show_default=True,
              help="Test training seeds 0..N−1 (never fitness seeds, which start at 2000).")
@click.option("--data-root", type=click.Path(path_type=Path), default=Path("runs/suite"),
              show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Meta-test directory (an interrupted run resumes with the same options).")
@click.option("--reuse", "reuse_dirs", multiple=True, type=click.Path(path_type=Path),
              help="An earlier meta-test (or bench) run with the same training and evaluation "
                   "settings: its test members are taken over, not retrained. Repeatable.")
@_threads_option
@friendly_errors
def meta_test_cmd(bench_dir, loss_files, presets, seeds, data_root, out, reuse_dirs,
                  threads) -> None:
    """Score discovered losses on fresh test seeds against the bench's tuned baselines.

    Same protocol and statistics as `mirrorpo bench`: every baseline at its validated setting
    and every discovered loss are trained on test seeds 0..N−1 and scored on the test
    episodes. Writes meta_test.md (discovered vs best tuned baseline per preset), and the
    bench outputs (summary.md/.csv, members.csv, plots/). Give several presets for the
    transfer matrix. A member's result depends only on its loss, spec and seed, so members of
    the bench and of any --reuse run are taken over instead of retrained.
    """
    import shutil
    from dataclasses import replace

    import torch

    from mirrorpo.assets import load_reference
    from mirrorpo.bench import (
        BenchRun,
        discovered_renames,
        display_name,
        markdown_summary,
        markdown_verdicts,
        merge_units,
        meta_test_verdicts,
        rekey_discovered,
        same_protocol,
        table_rows,
        test_unit,
    )
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.fileio import write_csv_atomic, write_text_atomic
    from mirrorpo.losses.mpo import load_mpo

    bench = BenchRun.open(bench_dir)
    bench_cfg = bench.cfg
    preset_list = _csv_list(presets) if presets else bench_cfg.presets
    for p in preset_list:
        if p not in bench_cfg.presets or bench.load(p, "test") is None:
            raise UserError(f"--presets: {bench_dir} has no finished '{p}' preset")
    reused = []
    for d in reuse_dirs:
        try:
            other = BenchRun.open(d)
        except ValueError as exc:
            raise UserError(f"--reuse: {exc}") from None
        if not same_protocol(other.cfg, bench.cfg):
            raise UserError(f"--reuse: {d} trains or scores differently from {bench_dir} "
                            "(env, training settings, episodes or curve points)")
        reused.append(other)
    files = [Path(f) for f in _csv_list(loss_files)]
    labels = [_discovered_label(f) for f in files]
    if len(set(labels)) != len(labels):
        raise UserError(f"--losses: two files would share a name ({', '.join(labels)})")
    for f in files:
        load_mpo(f)  # one-line error for a missing, malformed or unknown-family file
    copies = []
    for f, label in zip(files, labels, strict=True):
        dest = out / "losses" / f"{label}.json"
        if dest.exists() and dest.read_bytes() != f.read_bytes():
            raise UserError(f"{dest}: holds a different loss file; use another --out")
        copies.append(dest)
    cfg = replace(bench_cfg, presets=tuple(preset_list), seeds=seeds,
                  losses=(*bench_cfg.losses, *(str(c) for c in copies)))
    run = BenchRun.create(out, cfg)
    for f, dest in zip(files, copies, strict=True):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copyfile(f, dest)
    by_content = {c.read_bytes(): str(c) for c in copies}
    renames = [discovered_renames(r.root, by_content) for r in reused]
    torch.set_num_threads(threads)
    reference = load_reference(cfg.env)
    scorer = _scorer(cfg.env, cfg.episodes, nthread=threads)
    t0 = time.time()
    for preset in preset_list:
        val = bench.load(preset, "validation")
        chosen = {**val["chosen"], **{str(c): str(c) for c in copies}}
        if run.load(preset, "validation") is None:
            run.save(preset, "validation", {**val, "chosen": chosen})
        if run.load(preset, "test") is not None:
            continue
        ds = load_dataset(data_root / cfg.env / preset)
        with progress_bar(f"{preset}: meta-test, {seeds} seeds", cfg.train.steps) as adv:
            old = merge_units([bench.load(preset, "test"),
                               *(rekey_discovered(r.load(preset, "test"), names)
                                 for r, names in zip(reused, renames, strict=True))])
            unit = test_unit(cfg, chosen, ds.arrays, reference, scorer, adv, reuse=old)
        run.save(preset, "test", unit)
    _render_bench(run)
    tables = table_rows({p: run.load(p, "test") for p in preset_list}, cfg.losses)
    names = [display_name(str(c)) for c in copies]
    verdicts = meta_test_verdicts(tables, names)
    md = (f"# Meta-test: {cfg.env}, {seeds} test seeds\n\nBaselines and their settings from "
          f"`{bench_dir}`; discovered losses: {', '.join(f'`{f}`' for f in files)}.\n\n"
          + markdown_verdicts(verdicts) + "\n## All rows\n\n" + markdown_summary(tables))
    write_text_atomic(out / "meta_test.md", md)
    write_csv_atomic(out / "meta_test.csv", [{**v, "ci": list(v["ci"]),
                                         "baseline_ci": list(v["baseline_ci"])}
                                        for v in verdicts])
    click.echo(markdown_verdicts(verdicts))
    console.print(f"meta-test finished in {time.time() - t0:.0f}s; results in {out}")


# ----------------------------------------------------------------------------- search


@main.command("search")
@click.option("--data", "data_dirs", required=True,
              help="Dataset directory, or several separated by commas (fitness averages them).")
@click.option("--family", type=click.Choice(["mpo", "ta-mpo"]), default="mpo",
              show_default=True, help="Loss family searched.")
@click.option("--strategy", type=click.Choice(["openai-es", "cma-es"]), default="openai-es",
              show_default=True)
@click.option("--start", default="dpo", show_default=True,
              help="Start point: dpo, orpo, apo-zero or sppo-hard (the family's exact point at "
                   "its default β or λ), or an MPO/TA-MPO loss file such as an earlier "
                   "search's best.json (an MPO loss starts TA-MPO with constant schedules).")
@click.option("--popsize", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--generations", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--fitness-seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Training seeds per candidate (fitness = mean score over them).")
@click.option("--reseed", is_flag=True,
              help="Draw fresh fitness seeds every generation (shared within it), so the "
                   "search cannot fit one training trajectory and set of episodes.")
@click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True, help="Search step: OpenAI-ES σ, CMA-ES σ0.")
@click.option("--es-learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.05,
              show_default=True, help="OpenAI-ES: Adam step size on the mean.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps per fitness run [default: TrainConfig's].")
@click.option("--batch-pairs", type=click.IntRange(min=1), default=None)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--episodes", type=click.IntRange(min=2), default=10, show_default=True,
              help="Evaluation episodes per fitness member.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the strategy.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--resume", is_flag=True,
              help="Continue the search in --out (after Ctrl-C, a crash or a kill).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where fitness runs: this process (population-batched) "
                                      "or Ray workers (members split into one shard per worker).")
@click.option("--address", default=None,
              help="Ray: cluster address to join ('auto', 'ray://HEAD:10001') [default: start "
                   "a local Ray instance].")
@click.option("--worker-cpus", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ray: CPUs (torch and MuJoCo threads) per worker task.")
@_threads_option
@friendly_errors
def search_cmd(data_dirs, family, strategy, start, popsize, generations, fitness_seeds, reseed,
               sigma, es_learning_rate, steps, batch_pairs, learning_rate, episodes, seed, out,
               resume, backend, address, worker_cpus, threads) -> None:
    """Evolution strategies over the MPO family: fitness is the normalised return after
    training from the reference with each candidate loss. State is saved atomically after
    every generation (state.json, best.json, mean.json); --resume continues exactly."""
    from dataclasses import asdict

    import torch

    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.search.fitness import FitnessContext, FitnessSetup, InProcess, make_fitness
    from mirrorpo.search.run import (
        START_POINTS,
        SearchConfig,
        read_state,
        run_search,
        start_from_file,
    )
    from mirrorpo.train.population import TrainConfig

    if address is not None and backend != "ray":
        raise UserError("--address: only with --backend ray")
    dirs = [Path(d) for d in _csv_list(data_dirs)]
    sets = [load_dataset(d) for d in dirs]
    envs = {ds.card["env"] for ds in sets}
    if len(envs) != 1:
        raise UserError(f"--data: datasets of one environment only, got {sorted(envs)}")
    env_name = envs.pop()
    if strategy == "openai-es" and popsize % 2:
        raise UserError("--popsize: OpenAI-ES samples antithetic pairs, so it must be even")
    d = TrainConfig()
    train = TrainConfig(steps=steps or d.steps, batch_pairs=batch_pairs or d.batch_pairs,
                        learning_rate=learning_rate or d.learning_rate)
    setup = FitnessSetup(family=family, fitness_seeds=fitness_seeds, reseed=reseed, train=train)
    options = {"sigma": sigma, "learning_rate": es_learning_rate} if strategy == "openai-es" \
        else {"sigma0": sigma}
    fitness_desc = {"env": env_name, "data": [str(x) for x in dirs],
                    "data_cards": [{k: ds.card[k] for k in ("preset", "seed", "num_pairs",
                                                            "horizon")} for ds in sets],
                    "fitness_seeds": fitness_seeds, "episodes": episodes,
                    "train": {k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in asdict(train).items()}}
    if reseed:  # recorded only when set, so runs made before the flag existed still resume
        fitness_desc["reseed"] = True
    start_vector = None
    if start not in START_POINTS:
        if not Path(start).is_file():
            raise UserError(f"--start: '{start}' is neither a start point "
                            f"({', '.join(START_POINTS)}) nor a loss file")
        try:
            start, start_vector = start_from_file(start, family)
        except ValueError as exc:
            raise UserError(f"--start: {exc}") from None
    config = SearchConfig(strategy=strategy, family=family, start=start, popsize=popsize,
                          generations=generations, seed=seed, strategy_options=options,
                          fitness=fitness_desc, start_vector=start_vector)
    torch.set_num_threads(threads)
    ctx = FitnessContext(setup, load_reference(env_name), tuple(ds.arrays for ds in sets),
                         _scorer(env_name, episodes, mean_action=False, nthread=threads))
    if backend == "ray":
        from mirrorpo.search.ray_backend import RayBackend

        runner = RayBackend(ctx, address=address, worker_cpus=worker_cpus)
        console.print(f"Ray backend: {runner.workers} workers × {worker_cpus} CPU")
    else:
        runner = InProcess(ctx)
    fitness = make_fitness(ctx, runner)

    def log(line: str) -> None:
        state = read_state(out) if (out / "state.json").exists() else {}
        console.print(line)
        if "formula" in state:
            console.print(f"  mean: {state['formula']}", style="dim")

    t0 = time.time()
    try:
        with progress_bar(f"search {family} ({strategy}, P={popsize})", generations) as adv:
            res = run_search(config, out, fitness, resume=resume, progress=adv, log=log)
    finally:
        runner.close()
    best = res.best
    if best is not None:
        console.print(f"best fitness {best.fitness:.2f} (generation {best.generation + 1}); "
                      f"loss file {out / 'best.json'}")
    console.print(f"search finished in {time.time() - t0:.0f}s; state in {out / 'state.json'}")


@main.command("report")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report directory [default: RUN/report].")
@click.option("--meta-test", "meta_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo meta-test` directory whose tables join the report.")
@friendly_errors
def report_cmd(run_dir, out, meta_dir) -> None:
    """Report on the search run directory RUN (complete or not), from its state.json alone:
    report.md, a self-contained report.html (images embedded) and PNGs of the ES curves and
    the learned mirror map, link (and TA-MPO schedules). Nothing is trained or evaluated."""
    from mirrorpo.search.report import write_report
    from mirrorpo.search.run import STATE_FILE

    if not (run_dir / STATE_FILE).is_file():
        raise UserError(f"{run_dir}: not a search run directory (no {STATE_FILE})")
    meta = None
    if meta_dir is not None:
        if not (meta_dir / "meta_test.md").is_file():
            raise UserError(f"--meta-test: {meta_dir} holds no meta_test.md (run `mirrorpo "
                            f"meta-test` first)")
        import re

        body = (meta_dir / "meta_test.md").read_text().split("\n", 1)[1]  # drop its title
        meta = re.sub(r"^(#+) ", r"#\1 ", body, flags=re.M)  # nest under "## Meta-test"
    target = write_report(run_dir, out, meta_test=meta)
    console.print(f"report written to {target / 'report.html'} (and report.md, PNGs)")


# ----------------------------------------------------------------------------- losses


@main.command("losses")
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead.")
def losses_cmd(markdown) -> None:
    """List the registered preference losses, their defaults and formulas."""
    rows = loss_rows()
    head = ("loss", "uses π_ref", "defaults (TRL names)", "formula and source")
    if markdown:
        click.echo(markdown_table(head, rows))
        return
    table = Table(title="registered losses (mirrorpo.losses)")
    for col in head:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def loss_rows() -> list[tuple[str, str, str, str]]:
    """One row per registered loss, from the registry (name, reference use, defaults, doc)."""
    from mirrorpo.losses import LOSSES

    rows = []
    for name in sorted(LOSSES):
        spec = LOSSES[name]
        doc = " ".join((spec.fn.__doc__ or "").split())
        defaults = ", ".join(f"{k}={v:g}" for k, v in spec.defaults.items()) or "—"
        rows.append((name, "yes" if spec.uses_reference else "no", defaults, doc))
    return rows


# ----------------------------------------------------------------------------- demo


@main.command()
@env_option
@click.option("--pairs", type=click.IntRange(min=16), default=1024, show_default=True)
@click.option("--seeds", type=click.IntRange(min=2), default=3, show_default=True,
              help="Training seeds per loss.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps [default: TrainConfig's].")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Where the demo's dataset, loss file, table and plots go.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def demo(env_name, pairs, seeds, steps, out, seed) -> None:
    """The whole story in one go: a noisy-20 dataset → reference vs DPO, ORPO and MPO at its
    DPO point → table (95% CIs) and plots."""
    import torch

    from mirrorpo import plots
    from mirrorpo.assets import load_reference
    from mirrorpo.bench import BenchConfig, markdown_summary, table_rows, test_unit, unit_curves
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.losses.mpo import MPOLoss, dpo_point
    from mirrorpo.train.population import TrainConfig

    t0 = time.time()
    console.rule(f"[bold]mirrorpo demo · {env_name}")
    _print_ladder(env_name, None)
    data_dir = out / f"{env_name}-noisy-20-seed{seed}"
    ds = make_dataset_cli(env_name, "noisy-20", pairs, None, seed, data_dir, force=True)
    print_card(ds.card)
    mpo_file = out / "mpo-at-dpo-point.json"
    MPOLoss("mpo", dpo_point(beta=0.1)).save(mpo_file)
    losses = ("dpo:beta=0.1", "orpo:beta=0.1", str(mpo_file))
    train = TrainConfig(steps=steps or TrainConfig().steps)
    cfg = BenchConfig(env=env_name, presets=("noisy-20",), losses=losses, seeds=seeds,
                      train=train)
    torch.set_num_threads(2)
    with progress_bar(f"train {len(losses)} losses × {seeds} seeds, then evaluate",
                      train.steps) as advance:
        unit = test_unit(cfg, {x: x for x in losses}, ds.arrays, load_reference(env_name),
                         _scorer(env_name, cfg.episodes), advance)
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


from mirrorpo.llm.commands import llm as _llm_group  # noqa: E402  (light: imports lazily)

main.add_command(_llm_group)


if __name__ == "__main__":  # pragma: no cover
    main()
