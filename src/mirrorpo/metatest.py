"""The meta-test: discovered losses on fresh test seeds against a benchmark's tuned baselines.

Same protocol and statistics as the benchmark (mirrorpo.benchmark; docs/protocol.md): every
baseline at its validated setting and every discovered loss are trained on test seeds
0..N−1 and scored on the test episodes. A member's result depends only on its loss, spec and
seed, so members held by the benchmark run, or by an earlier meta-test given in ``reuse`` with
the same training and evaluation settings, are taken over instead of retrained, when they were
trained on the same dataset (same fingerprint; units written before fingerprints are not
reused). Each
discovered loss file is copied into ``OUT/losses/<run dir>-<stem>.json``, its key in the run.

A loss file written by a search lists the fingerprints of the datasets its fitness trained on
(``"fitted_on"``); a meta-test on one of those datasets is refused before any training: the
meta-test measures a loss on fresh draws of a preset, not on the draws it was fitted to.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mirrorpo.benchmark import (
    BenchRun,
    check_datasets,
    check_losses,
    discovered_renames,
    display_name,
    markdown_summary,
    markdown_verdicts,
    merge_units,
    meta_test_verdicts,
    rekey_discovered,
    render_bench,
    same_protocol,
    table_rows,
    test_unit,
)
from mirrorpo.config import ConfigError, check, setting
from mirrorpo.fileio import write_csv_atomic, write_text_atomic
from mirrorpo.losses.resolve import refuse_set_coordinates, resolve_losses
from mirrorpo.progress import Progress, no_progress
from mirrorpo.training.population import require_device

LOSSES_DIR = "losses"


@dataclass(frozen=True)
class MetaTestConfig:
    """Which discovered losses to test against which benchmark, on how many seeds."""

    bench: str = setting(help="A finished `mirrorpo bench` run: its tuned baselines "
                              "(validation choices, and test members that are reused).")
    losses: tuple[Any, ...] = setting(help="Comma-separated losses to test: discovered loss "
                                           "files (RUN/mean.json, RUN/best.json), "
                                           "module:function or NAME:key=value specs; from "
                                           "Python, also callables.")
    presets: tuple[str, ...] = setting((), help="Comma-separated presets of the bench run "
                                                "[default: all of them].")
    seeds: int = setting(10, ge=2, le=1000, help="Test training seeds 0..N−1 (never fitness "
                                                 "seeds, which start at 2000).")
    data_root: str = setting("runs/suite", help="Where `mirrorpo data make` wrote the "
                                                "datasets (DATA_ROOT/ENV/PRESET).")
    reuse: tuple[str, ...] = setting((), help="Comma-separated earlier meta-test (or bench) "
                                              "runs with the same training and evaluation "
                                              "settings: their test members are taken over.")

    def __post_init__(self):
        check(self)
        if not self.losses:
            raise ConfigError("MetaTestConfig.losses: give at least one loss")
        refuse_set_coordinates(self.losses, "MetaTestConfig.losses")

    @property
    def files(self) -> list[Path]:
        """The losses given as loss files (copied into the run)."""
        return [Path(x) for x in self.losses if isinstance(x, str) and x.endswith(".json")]

    @property
    def others(self) -> tuple:
        """The losses given otherwise (specs, callables), used as given."""
        return tuple(x for x in self.losses if not (isinstance(x, str) and x.endswith(".json")))


def copy_name(path: Path) -> str:
    """runs/search/halfcheetah-mixed/mean.json → halfcheetah-mixed-mean."""
    parent = path.resolve().parent.name
    return f"{parent}-{path.stem}" if parent else path.stem


def open_reused(dirs: tuple[str, ...], bench: BenchRun) -> list[BenchRun]:
    """The ``reuse`` runs, each checked to train and score like ``bench``."""
    out = []
    for d in dirs:
        try:
            other = BenchRun.open(Path(d))
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"MetaTestConfig.reuse: {exc}") from None
        if not same_protocol(other.cfg, bench.cfg):
            raise ConfigError(f"MetaTestConfig.reuse: {d} trains or scores differently from "
                              f"{bench.root} (env, training settings, episodes, curve "
                              "points or protocol)")
        out.append(other)
    return out


def plan_copies(files: list[Path], out: Path) -> list[Path]:
    """Where each loss file is copied in ``out``; refuses two files with one name and a copy
    that already holds other bytes."""
    from mirrorpo.losses.mpo import load_mpo

    names = [copy_name(f) for f in files]
    if len(set(names)) != len(names):
        raise ConfigError(f"MetaTestConfig.losses: two files would share a name "
                          f"({', '.join(names)})")
    copies = []
    for f, name in zip(files, names, strict=True):
        load_mpo(f)  # one-line error for a missing, malformed or unknown-family file
        dest = out / LOSSES_DIR / f"{name}.json"
        if dest.exists() and dest.read_bytes() != f.read_bytes():
            raise FileExistsError(f"{dest}: holds a different loss file; use another output "
                                  "directory")
        copies.append(dest)
    return copies


def check_fresh_draws(files: list[Path], datasets: dict[str, Path]) -> None:
    """Refuse (ConfigError, one line naming both) a dataset whose content fingerprint is in a
    loss file's ``fitted_on``: one of the draws the search fitted that loss on."""
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.losses.mpo import load_mpo

    fitted = {f: set(load_mpo(f).fitted_on) for f in files}
    if not any(fitted.values()):
        return
    for d in datasets.values():
        fp = load_dataset(d).fingerprint  # from the arrays (a card's own one is checked too)
        for f, fps in fitted.items():
            if fp in fps:
                raise ConfigError(f"MetaTestConfig: dataset {d} (fingerprint {fp}) is one "
                                  f"that {f} was fitted on (its fitted_on): meta-test on "
                                  "fresh draws of the preset (another `data make --seed`)")


def meta_test(config: MetaTestConfig, out: str | Path, *, progress: Progress = no_progress,
              nthread: int | None = None) -> list[dict]:
    """Run (or resume) the meta-test in ``out``; returns the verdicts (one per preset and
    discovered loss), also written to meta_test.md and meta_test.csv beside the bench
    outputs."""
    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import NormalisedScorer

    out = Path(out)
    bench = BenchRun.open(Path(config.bench))
    presets = config.presets or bench.cfg.presets
    for p in presets:
        if p not in bench.cfg.presets or bench.load(p, "test") is None:
            raise ConfigError(f"MetaTestConfig.presets: {config.bench} has no finished "
                              f"'{p}' preset")
    reused = open_reused(config.reuse, bench)
    files = config.files
    copies = plan_copies(files, out)
    others = resolve_losses(config.others)
    cfg = replace(bench.cfg, presets=tuple(presets), seeds=config.seeds,
                  losses=(*bench.cfg.loss_keys, *(str(c) for c in copies),
                          *(x if isinstance(x, str) else nl
                            for x, nl in zip(config.others, others, strict=True))))
    tested = [str(c) for c in copies] + [nl.record for nl in others]
    datasets = check_datasets(cfg, Path(config.data_root), cfg.presets)
    check_fresh_draws(files, datasets)
    require_device(cfg.train.device)
    run = BenchRun.create(out, cfg)
    for f, dest in zip(files, copies, strict=True):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copyfile(f, dest)
    check_losses(cfg)
    by_content = {c.read_bytes(): str(c) for c in copies}
    renames = [discovered_renames(r.root, by_content) for r in reused]
    reference = load_reference(cfg.env)
    scorer = NormalisedScorer.for_env(cfg.env, cfg.episodes, nthread=nthread,
                                      device=cfg.train.device)
    for preset in presets:
        val = bench.load(preset, "validation")
        chosen = {**val["chosen"], **{key: key for key in tested}}
        if run.load(preset, "validation") is None:
            run.save(preset, "validation", {**val, "chosen": chosen})
        if run.load(preset, "test") is not None:
            continue
        ds = load_dataset(datasets[preset])
        with progress(f"{preset}: meta-test, {config.seeds} seeds", cfg.train.steps) as adv:
            # members trained on this very draw only (a unit records its dataset's fingerprint)
            same_draw = [u for u in [bench.load(preset, "test"),
                                     *(rekey_discovered(r.load(preset, "test"), names)
                                       for r, names in zip(reused, renames, strict=True))]
                         if u is not None and u.get("fingerprint") == ds.fingerprint]
            unit = test_unit(cfg, chosen, ds.arrays, reference, scorer, adv,
                             reuse=merge_units(same_draw))
        run.save(preset, "test", {**unit, "fingerprint": ds.fingerprint})
    render_bench(run)
    tables = table_rows({p: run.load(p, "test") for p in presets}, cfg.loss_keys)
    verdicts = meta_test_verdicts(tables, [display_name(key) for key in tested])
    md = (f"# Meta-test: {cfg.env}, {config.seeds} test seeds\n\nBaselines and their settings "
          f"from `{config.bench}`; discovered losses: "
          f"{', '.join(f'`{display_name(k)}`' for k in tested)}.\n\n"
          + markdown_verdicts(verdicts) + "\n## All rows\n\n" + markdown_summary(tables))
    write_text_atomic(out / "meta_test.md", md)
    write_csv_atomic(out / "meta_test.csv", [{**v, "ci": list(v["ci"]),
                                              "baseline_ci": list(v["baseline_ci"])}
                                             for v in verdicts])
    return verdicts
