"""mirrorpo: design, benchmark and discover preference-optimization objectives.

The library's face (see docs/api.md)::

    import mirrorpo as mp

    ds = mp.make_dataset(mp.DataConfig(preset="noisy-20", pairs=512), "runs/data/n20")
    run = mp.train(ds, ["dpo", "orpo", my_loss], mp.TrainRunConfig(seeds=3))

``mp.train`` and ``mp.search`` are the job functions; their subpackages stay importable by
name (``from mirrorpo.training.population import TrainConfig``).
"""

from __future__ import annotations

__version__ = "0.1.0"

# Imported eagerly: a lazy attribute would be shadowed by the subpackages of the same name
# (mirrorpo.training, mirrorpo.discovery) once anything imports them.
from mirrorpo.api import (  # noqa: E402
    AblationConfig,
    BenchConfig,
    DataConfig,
    EvalConfig,
    MetaTestConfig,
    NamedLoss,
    PolicyScore,
    PreferenceDataset,
    TrainConfig,
    TrainRun,
    TrainRunConfig,
    Variant,
    ablate,
    bench,
    evaluate,
    load_dataset,
    loss_label,
    make_dataset,
    meta_test,
    report,
    resolve_loss,
    train,
)
from mirrorpo.config import ConfigError  # noqa: E402
from mirrorpo.discovery.fitness import FitnessConfig  # noqa: E402
from mirrorpo.discovery.job import search  # noqa: E402
from mirrorpo.discovery.run import SearchConfig, SearchResult  # noqa: E402
from mirrorpo.losses import LOSSES, PreferenceBatch, register  # noqa: E402

__all__ = [
    "LOSSES", "AblationConfig", "BenchConfig", "ConfigError", "DataConfig", "EvalConfig",
    "FitnessConfig", "MetaTestConfig", "NamedLoss", "PolicyScore", "PreferenceBatch",
    "PreferenceDataset", "SearchConfig", "SearchResult", "TrainConfig", "TrainRun",
    "TrainRunConfig", "Variant", "__version__", "ablate", "bench", "evaluate", "load_dataset",
    "loss_label", "make_dataset", "meta_test", "register", "report", "resolve_loss", "search",
    "train",
]
