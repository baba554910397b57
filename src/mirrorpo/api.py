"""The mirrorpo library: every job of the command line as a Python function.

Each job takes a frozen config dataclass that checks itself when built (an invalid config
cannot exist), checks its inputs and output paths before any work, reports progress through an
optional ``progress`` callback (mirrorpo.progress) and returns its results as objects::

    import mirrorpo as mp

    ds = mp.make_dataset(mp.DataConfig(env="hopper", preset="noisy-20", pairs=256,
                                       horizon=50), "runs/data/small")
    run = mp.train(ds, ["dpo", "orpo", "best.json", my_loss],
                   mp.TrainRunConfig(seeds=3, train=mp.TrainConfig(steps=200)))
    run.save("runs/train/small")

The command line (mirrorpo.cli) only parses options into these configs, calls these functions
and renders what they return. See docs/api.md.
"""

from __future__ import annotations

from pathlib import Path

from mirrorpo.ablation import AblationConfig, Variant, ablate
from mirrorpo.benchmark import BenchConfig, render_bench, run_bench
from mirrorpo.data.dataset import PreferenceDataset, load_dataset
from mirrorpo.data.generate import DataConfig
from mirrorpo.evaluation import EvalConfig, PolicyScore, score_policies
from mirrorpo.losses.resolve import NamedLoss, loss_label, resolve_loss
from mirrorpo.metatest import MetaTestConfig, meta_test
from mirrorpo.policies import PolicyStack
from mirrorpo.progress import Log, Progress, no_log, no_progress
from mirrorpo.training.population import TrainConfig
from mirrorpo.training.run import TrainRun, TrainRunConfig, train

__all__ = [
    "AblationConfig", "BenchConfig", "DataConfig", "EvalConfig", "MetaTestConfig", "NamedLoss",
    "PolicyScore", "PreferenceDataset", "TrainConfig", "TrainRun", "TrainRunConfig", "Variant",
    "ablate", "bench", "evaluate", "load_dataset", "loss_label", "make_dataset", "meta_test",
    "render_bench", "report", "resolve_loss", "train",
]


def make_dataset(config: DataConfig, out: str | Path | None = None, *, force: bool = False,
                 progress: Progress = no_progress, log: Log = no_log) -> PreferenceDataset:
    """Draw a preference dataset from ``config`` (same seed, same bytes); with ``out``, save it
    there (checked before generating; an existing dataset is replaced only with ``force``).
    Its card holds the arrays' content ``fingerprint``, saved or not. ``config``'s teacher and
    level-mix fields override its preset's; the card records them (``overrides``)."""
    import time

    from mirrorpo.data import generate
    from mirrorpo.data.dataset import CARD_FILE, save_dataset
    from mirrorpo.outputs import check_output_dir

    if out is not None:
        check_output_dir(out, CARD_FILE, "dataset", force=force)
    ctx = generate.load_suite_context(config.env)
    recipe = config.recipe  # the preset, with the config's teacher and level-mix overrides
    t0 = time.time()
    with progress(f"data {config.env}/{recipe.id}", config.progress_total()) as advance:
        ds = generate.make_dataset(ctx, recipe, num_pairs=config.num_pairs,
                                   horizon=config.segment_horizon, seed=config.seed,
                                   progress=advance)
    ds = PreferenceDataset(ds.arrays, {**ds.card, "fingerprint": ds.fingerprint})
    if out is not None:
        save_dataset(Path(out), ds.arrays, ds.card, overwrite=force)
        log(f"wrote {out} in {time.time() - t0:.1f}s")
    return ds


def evaluate(policies: PolicyStack | str | Path, env: str, config: EvalConfig | None = None,
             *, progress: Progress = no_progress, nthread: int | None = None
             ) -> list[PolicyScore]:
    """Normalised scores (sampled and mean actions, 95% bootstrap CIs) of every policy in a
    stack or a policies .safetensors file, episode k starting from
    ``reset(seed=config.seed + k)``."""
    from mirrorpo.policies import load_policies

    config = config or EvalConfig()
    if not isinstance(policies, PolicyStack):
        policies, _ = load_policies(Path(policies))
    return score_policies(env, policies, episodes=config.episodes, seed=config.seed,
                          nthread=nthread, progress=progress)


def bench(config: BenchConfig, out: str | Path, *, data_root: str | Path = "runs/suite",
          force: bool = False, progress: Progress = no_progress,
          nthread: int | None = None) -> dict:
    """Every loss on every preset: tuned on validation seeds, reported on test seeds (see
    mirrorpo.benchmark). Resumes an interrupted run in ``out``; returns the tables."""
    return run_bench(config, out, data_root=data_root, force=force, progress=progress,
                     nthread=nthread)


def report(run_dir: str | Path, out: str | Path | None = None,
           meta_test: str | Path | None = None, data: str | Path | None = None) -> Path:
    """Write report.md, report.html and PNGs for a search run (complete or not), with the
    tables of a meta-test directory if given, and with a dataset ``data`` the figure of f and
    g over the inputs it produces (trains each final loss once); returns the report
    directory."""
    import re

    from mirrorpo.discovery.report import write_report
    from mirrorpo.discovery.run import STATE_FILE

    run_dir = Path(run_dir)
    if not (run_dir / STATE_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: not a search run directory (no {STATE_FILE})")
    body = None
    if meta_test is not None:
        md = Path(meta_test) / "meta_test.md"
        if not md.is_file():
            raise FileNotFoundError(f"{meta_test}: holds no meta_test.md (run the meta-test "
                                    "first)")
        text = md.read_text().split("\n", 1)[1]  # drop its title
        body = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)  # nest under "## Meta-test"
    return write_report(run_dir, out, meta_test=body, data=data)
