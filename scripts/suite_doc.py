"""Regenerate docs/suite.md: each env's shipped ladder + reference, and every preset's card.

    python scripts/suite_doc.py --envs hopper halfcheetah walker2d --ladder-envs ant [--make]

With --make, every preset's dataset is (re)built first with exactly the commands printed in
the doc (`mirrorpo data make --env ENV --preset P --seed 0 --out runs/suite/ENV/P --force`);
without it, an env shows the presets already under runs/suite/ENV.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from mirrorpo.assets import load_suite_info
from mirrorpo.cli.render import LADDER_HEAD, cards_markdown, ladder_rows, markdown_table
from mirrorpo.data.dataset import load_dataset
from mirrorpo.data.presets import PRESETS
from mirrorpo.envs import get_spec

MAKE = "mirrorpo data make --env {env} --preset {preset} --seed 0 --out runs/suite/{env}/{preset}"


def ladder_markdown(env: str) -> str:
    info = load_suite_info(env)
    table = markdown_table(LADDER_HEAD, ladder_rows(info))
    meas = info.raw.get("measurement", {})
    return (
        f"Random return {info.random_return:.1f}, expert return {info.expert_return:.1f} "
        f"({meas.get('episodes', '?')} episodes each, sampled actions, seeds "
        f"{meas.get('seeds', '?')}). Reference: {info.reference.get('episodes', '?')} episodes; "
        f"mean-action score {info.reference['score_mean_action']:.1f}.\n\n" + table
        if info.reference else table
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["hopper", "halfcheetah"])
    ap.add_argument("--ladder-envs", nargs="*", default=["walker2d", "ant"],
                    help="envs shown with their ladder and reference only")
    ap.add_argument("--make", action="store_true", help="build the datasets first")
    ap.add_argument("--out", type=Path, default=Path("docs/suite.md"))
    args = ap.parse_args()
    parts = [Path("docs/suite_header.md").read_text().rstrip() + "\n"]
    for env in args.envs:
        spec = get_spec(env)
        if args.make:
            for preset in PRESETS:
                cmd = MAKE.format(env=env, preset=preset) + " --force"
                subprocess.run(cmd.split(), check=True)
        # every preset when made here; otherwise the ones already made (e.g. a bench's three)
        presets = [p for p in PRESETS if Path(f"runs/suite/{env}/{p}/card.json").exists()]
        if not presets:
            raise SystemExit(f"runs/suite/{env}: no datasets (run with --make)")
        cards = [load_dataset(f"runs/suite/{env}/{p}").card for p in presets]
        commands = "\n".join(MAKE.format(env=env, preset=p) for p in presets)
        parts.append(
            f"## {spec.gym_id}\n\n### Ladder and reference\n\n"
            f"`mirrorpo experts show --env {env}`\n\n{ladder_markdown(env)}\n\n"
            f"### Preset cards (seed 0)\n\n```bash\n{commands}\n"
            f"mirrorpo data table {' '.join(f'runs/suite/{env}/{p}' for p in presets)}\n```\n\n"
            f"{cards_markdown(cards)}\n"
        )
    for env in args.ladder_envs:
        spec = get_spec(env)
        parts.append(f"## {spec.gym_id}\n\n`mirrorpo experts show --env {env}`\n\n"
                     f"{ladder_markdown(env)}\n")
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
