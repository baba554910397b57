"""Regenerate docs/results.md from benchmark runs: the template's analysis text plus each run's
summary tables and plots (copied to docs/results/<env>/).

    python scripts/results_doc.py hopper=runs/bench/hopper halfcheetah=runs/bench/halfcheetah

In docs/results_template.md, ``{{tables:ENV}}`` becomes that run's summary.md (per-preset
tables, produced by `mirrorpo bench`) and ``{{plots:ENV:KIND}}`` the run's plots of that kind
(bars, curves or logps), one image per preset. ``{{verdicts:NAME}}`` becomes the verdict
table of a `mirrorpo meta-test` directory (its meta_test.md up to "## All rows"), and
``{{image:NAME:PATH}}`` the image NAME_DIR/PATH (e.g. report/es_curves.png of a search run),
copied to docs/results/NAME/.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

DOCS = Path("docs")


def plots_markdown(env: str, run: Path, kind: str) -> str:
    dest = DOCS / "results" / env
    dest.mkdir(parents=True, exist_ok=True)
    presets = json.loads((run / "config.json").read_text())["presets"]
    lines = []
    for preset in presets:
        src = run / "plots" / f"{kind}_{preset}.png"
        if src.exists():
            shutil.copyfile(src, dest / src.name)
            lines.append(f"![{env} {preset} {kind}](results/{env}/{src.name})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="ENV=RUN_DIR")
    ap.add_argument("--template", type=Path, default=DOCS / "results_template.md")
    ap.add_argument("--out", type=Path, default=DOCS / "results.md")
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.runs)
    text = args.template.read_text()

    def tables(m: re.Match) -> str:
        summary = (Path(runs[m.group(1)]) / "summary.md").read_text().strip()
        body = "\n".join(x for x in summary.splitlines() if not x.startswith("# "))  # no title
        return body.strip().replace("### ", "#### ")

    def plots(m: re.Match) -> str:
        return plots_markdown(m.group(1), Path(runs[m.group(1)]), m.group(2))

    def verdicts(m: re.Match) -> str:
        md = (Path(runs[m.group(1)]) / "meta_test.md").read_text()
        table = md.split("## All rows")[0]
        return "\n".join(line for line in table.splitlines() if line.startswith("|"))

    def image(m: re.Match) -> str:
        name, rel = m.group(1), m.group(2)
        src = Path(runs[name]) / rel
        dest = DOCS / "results" / name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / src.name)
        return f"![{name} {src.stem}](results/{name}/{src.name})"

    text = re.sub(r"\{\{verdicts:([\w-]+)\}\}", verdicts, text)
    text = re.sub(r"\{\{image:([\w-]+):([\w./-]+)\}\}", image, text)
    text = re.sub(r"\{\{tables:([\w-]+)\}\}", tables, text)
    text = re.sub(r"\{\{plots:([\w-]+):(\w+)\}\}", plots, text)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
