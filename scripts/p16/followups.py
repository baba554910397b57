"""The issue-16 round's exploratory follow-ups (docs/protocols/README.md, amendment of
2026-12-01 18:33 UTC): knock-out ablations and the transfer matrix, as rows added to the
round's finished confirmations.

    python scripts/p16/followups.py          # the plan: what is missing, what would run
    python scripts/p16/followups.py --run [--jobs 2]   # run it (each confirmation resumes)
    python scripts/p16/followups.py --extend CONFIRM_DIR --rows A.json,B.json   # add rows to one

It waits for the whole round: the ablation rule compares candidates across an environment
family's targets. Then each confirmation is extended once, with its full list of exploratory
rows (`confirm --exploratory` replaces the list, and only missing rows train):

- the rows its queue step already gave it (config.json's ``exploratory``);
- the transfer rows: every other specialist search's best.json and the generalist's mean.json
  (on the generalist's own two confirmations, its best.json instead), copied to
  runs/p16/transfer/<name>.json so that its label says where it came from;
- the knock-out variants of each of its candidates that the rule ablates: every winner of the
  round table (m = 36); for an environment family without a winner, the family's candidate with
  the largest mean paired difference against its target's tuned DPO. Variants are written by
  `mirrorpo ablate` to runs/p16/ablate/<name>/ and copied as <name>--drop-<term>.json (two
  ablated MPO candidates of one target would otherwise share labels).

The command of each extension is rebuilt from the confirmation's own config.json, run from the
code tree that ran it (Hopper mixed: the p17-tree worktree, as queue.sh; the rest: p16-tree5,
amendment of 2026-12-02 01:23 UTC), with one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path("/work/main")
R = Path("runs/p16")
T1, T3 = "/work/p16-tree", "/work/p16-tree3"
T4, T5, TX = "/work/p16-tree4", "/work/p16-tree5", "/work/p17-tree"
FAMILY_SIZE = 36

CONFIRMS = {  # confirmation directory -> code tree that ran it
    R / "hopper-mixed/confirm": TX,
    R / "walker2d-mixed/confirm": T5,
    R / "hopper-noisy-30/confirm": T5,
    R / "generalist/confirm-hopper": T5,
    R / "generalist/confirm-halfcheetah": T5,
}
REPLICATES = {  # confirmation whose test draws were lost -> (its replicate, the draws' tree)
    R / "hopper-mixed/confirm": (R / "hopper-mixed/confirm-replicate", T1),
    R / "walker2d-mixed/confirm": (R / "walker2d-mixed/confirm-replicate", T3),
    R / "hopper-noisy-30/confirm": (R / "hopper-noisy-30/confirm-replicate", T3),
}
"""docs/protocols/README.md, amendment "Follow-ups after the move to a new machine": the rows go
into a replicate of the confirmation on its remade test draws (same paths, other contents)."""
SPECIALISTS = {  # transfer name -> the search's best.json
    "hopper-mixed-mpo": R / "hopper-mixed/search/best.json",
    "hopper-mixed-ta-mpo": R / "hopper-mixed/search-ta/best.json",
    "walker2d-mixed-mpo": R / "walker2d-mixed/search/best.json",
    "hopper-noisy30-mpo": R / "hopper-noisy-30/search/best.json",
    "hopper-noisy30-ta-mpo": R / "hopper-noisy-30/search-ta/best.json",
    "hopper-stochastic-mpo": R / "hopper-stochastic/search/best.json",
    "halfcheetah-mixed-mpo": R / "halfcheetah-mixed/search/best.json",
}

GENERALIST = {  # transfer name -> the generalist search's files (generalist-mpo.md, amendment
    "generalist-mpo-mean": R / "generalist/search/mean.json",  # of 2026-12-02 18:40 UTC)
    "generalist-mpo-best": R / "generalist/search/best.json",
}
"""The mean is a transfer row of every confirmation that does not have it as a candidate; the
best file only of the two that do (in place of the registered `confirm-E-best` runs)."""


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def candidate_name(path: str) -> str:
    """A name for a candidate file: its transfer name, or <dir>-<stem> (generalist mean)."""
    for name, p in SPECIALISTS.items():
        if Path(path) == p:
            return name
    return f"{Path(path).parent.parent.name}-{Path(path).stem}"


def ablated(confirms: list[Path]) -> set[tuple[Path, str]]:
    """(confirmation, candidate file) pairs the amendment's rule ablates
    (mirrorpo.confirm.ablation_choice over the round table at m = 36)."""
    sys.path.insert(0, str(ROOT / "src"))
    from mirrorpo.confirm import ablation_choice, candidate_file

    return {(d, candidate_file(d, label))
            for d, label in ablation_choice(confirms, family_size=FAMILY_SIZE)}


def variants(candidate: str, run: bool) -> list[str]:
    """The knock-out variant files of ``candidate`` (made with `mirrorpo ablate` when
    ``run``), copied under names that carry the candidate's name."""
    name = candidate_name(candidate)
    d = R / "ablate" / name
    if run and not (d / "manifest.json").is_file():
        mp(T4, "ablate", "--loss", candidate, "--out", str(d))
    if not (d / "manifest.json").is_file():
        return [f"{d}/{name}--drop-*.json (to be made)"]
    out = []
    for v in read(d / "manifest.json")["variants"]:
        dst = d / f"{name}--{v['file']}"
        if run and not dst.is_file():
            shutil.copy(d / v["file"], dst)
        out.append(str(dst))
    return out


def transfer_rows(candidates: list[str], run: bool) -> list[str]:
    """Every other specialist's best.json and the generalist's mean (or, where the mean is a
    candidate, its best file; :data:`GENERALIST`), copied to runs/p16/transfer/<name>.json
    (when ``run``)."""
    out = []
    mean = str(GENERALIST["generalist-mpo-mean"])
    rows = {**SPECIALISTS, **GENERALIST}
    for name, src in rows.items():
        if str(src) in candidates or (name == "generalist-mpo-best" and mean not in candidates):
            continue
        dst = R / "transfer" / f"{name}.json"
        if run and not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
        out.append(str(dst))
    return out


def rows_out(confirm: Path) -> Path:
    """Where a confirmation's follow-up rows train: itself, or its replicate."""
    return REPLICATES[confirm][0] if confirm in REPLICATES else confirm


def missing_draws(confirm: Path) -> list[str]:
    """The confirmation's test draws that are not (or no longer) on this machine."""
    return [d for d in read(confirm / "config.json")["draws"]
            if not (ROOT / d / "card.json").is_file()]


def remake_draws() -> None:
    """Make the replicated confirmations' test draws at their recorded paths, with the tree
    and command that made the originals (the seed is the path's sN)."""
    for confirm, (_, tree) in REPLICATES.items():
        env, preset = read(confirm / "config.json")["target"].split()
        for d in missing_draws(confirm):
            print(f"data make {env} {preset} {d}", flush=True)
            mp(tree, "data", "make", "--env", env, "--preset", preset,
               "--seed", Path(d).name.removeprefix("s"), "--out", d)


def command(confirm: Path, exploratory: list[str]) -> list[str]:
    """`mirrorpo confirm` of the confirmation's own config.json with ``exploratory``, written
    to the confirmation or its replicate (:func:`rows_out`)."""
    c = read(confirm / "config.json")
    args = ["confirm", "--target", c["target"], "--candidates", ",".join(c["candidates"]),
            "--tuned", c["tuned"], "--draws", ",".join(c["draws"]), "--seeds", str(c["seeds"]),
            "--episodes", str(c["episodes"]), "--candidate-steps", str(c["candidate_steps"]),
            "--candidate-learning-rate", repr(c["candidate_learning_rate"]),
            "--batch-pairs", str(c["batch_pairs"]), "--method", c["method"],
            "--alpha", repr(c["alpha"]), "--controls" if c["controls"] else "--no-controls",
            "--exploratory", ",".join(exploratory), "--out", str(rows_out(confirm)),
            "--threads", "1"]
    if "candidate_schedule" in c:  # recorded only when not "fixed"
        args += ["--candidate-schedule", c["candidate_schedule"]]
    return args


def mp(tree: str, *args: str) -> None:
    subprocess.run(["scripts/p16/trees.sh", tree], check=True, cwd=ROOT)  # made by commit
    env = {**os.environ, "PYTHONPATH": f"{tree}/src"}
    subprocess.run([sys.executable, "-c", "from mirrorpo.cli import main; main()", *args],
                   check=True, env=env, cwd=ROOT)


def extend(confirm: Path, rows: list[str]) -> None:
    """Add exploratory ``rows`` to one finished confirmation, keeping the rows it has."""
    have = list(read(confirm / "config.json").get("exploratory", []))
    mp(CONFIRMS[confirm], *command(confirm, have + [r for r in rows if r not in have]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="store_true", help="run the extensions (else: plan only)")
    ap.add_argument("--extend", type=Path, help="only add --rows to this finished confirmation")
    ap.add_argument("--rows", default="", help="comma-separated loss files (with --extend)")
    ap.add_argument("--draws", action="store_true",
                    help="make the replicated confirmations' missing test draws, then exit")
    ap.add_argument("--jobs", type=int, default=1,
                    help="confirmations extended side by side (one torch thread each)")
    a = ap.parse_args()
    run = a.run
    os.chdir(ROOT)
    if a.extend:
        extend(a.extend, [r for r in a.rows.split(",") if r])
        return
    if a.draws:
        remake_draws()
        return
    missing = [str(d) for d in CONFIRMS if not (d / "scores.json").is_file()]
    missing += [str(p) for p in (*SPECIALISTS.values(), *GENERALIST.values()) if not p.is_file()]
    missing += [d for c in REPLICATES if (c / "config.json").is_file() for d in missing_draws(c)]
    if missing:
        print("waiting for the round: " + ", ".join(missing))
        return
    confirms = list(CONFIRMS)
    ablate = ablated(confirms)
    jobs = []
    for d in confirms:
        cfg = read(d / "config.json")
        kept = [r for r in cfg.get("exploratory", []) if Path(r).is_file()]
        for r in cfg.get("exploratory", []):
            if r not in kept:  # the halving searches' best files, lost with the old machine
                print(f"{d}: row {r} not replicated: its loss file is gone")
        rows = kept + transfer_rows(cfg["candidates"], run)
        for (dd, c) in sorted(ablate):
            if dd == d:
                rows += variants(c, run)
        rows = list(dict.fromkeys(rows))  # a rerun finds the rows it added in config.json
        print(f"{rows_out(d)}: {len(rows)} exploratory rows; ablated: "
              + (", ".join(candidate_name(c) for dd, c in ablate if dd == d) or "none"))
        if run:
            jobs.append((CONFIRMS[d], command(d, rows)))
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:  # each job is a subprocess
        for done in [pool.submit(mp, tree, *args) for tree, args in jobs]:
            done.result()


if __name__ == "__main__":
    main()
