"""Write tests/data/pinned_trajectories.json: 20-step training trajectories that
tests/test_pinned.py compares the current code against (regression references).

Not collected by pytest (no ``test_`` prefix). It uses only APIs that exist both before and
after the library-API refactor (mirrorpo.train.population.train_population / TrainConfig,
mirrorpo.losses.get_loss, mirrorpo.losses.mpo.MPOLoss / apo_zero_point,
mirrorpo.policies.PolicyStack), so it runs against either code base. The references were made
with the pre-refactor code::

    PYTHONPATH=/tmp/before/src python tests/make_pinned.py [--generated-by "TEXT"]

Everything (dataset, reference policy) is built here from seeded numpy draws, in float32 on
one torch thread, so no asset, environment or file outside this script is involved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).parent / "data" / "pinned_trajectories.json"
STEPS = 20
SEEDS = (0, 1)
TRAIN = {"steps": STEPS, "batch_pairs": 8, "learning_rate": 1e-2, "max_grad_norm": 1.0,
         "action_resolution": 0.01, "log_every": 1}
LOSSES = ("dpo", "orpo", "mpo-apo-zero")
"""Pinned losses: registered DPO (β = 0.1) and ORPO at their defaults, and the MPO family's
exact APO-zero point (MPOLoss("mpo", apo_zero_point()))."""


def pinned_data(n: int = 48, h: int = 6, o: int = 11, a: int = 3, seed: int = 0) -> dict:
    """A small preference dataset of random float32 arrays (as tests/test_population.py)."""
    rng = np.random.default_rng(seed)
    out = {}
    for side in ("chosen", "rejected"):
        out[f"{side}_obs"] = rng.normal(size=(n, h, o)).astype(np.float32)
        out[f"{side}_actions"] = rng.uniform(-1, 1, size=(n, h, a)).astype(np.float32)
        out[f"{side}_length"] = rng.integers(1, h + 1, n).astype(np.int32)
    return out


def pinned_reference(obs_dim: int = 11, act_dim: int = 3, hidden=(16, 16), seed: int = 3):
    """One tanh Gaussian MLP policy with seeded random weights (as tests/conftest.random_stack)."""
    from mirrorpo.policies import PolicyStack

    rng = np.random.default_rng(seed)
    dims = (obs_dim, *hidden, act_dim)
    return PolicyStack(
        weights=tuple(rng.normal(0, 0.5, (1, dims[i], dims[i + 1]))
                      for i in range(len(dims) - 1)),
        biases=tuple(rng.normal(0, 0.1, (1, dims[i + 1])) for i in range(len(dims) - 1)),
        log_std=np.full((1, act_dim), -0.5),
        obs_mean=rng.normal(0, 0.1, (1, obs_dim)),
        obs_std=np.ones((1, obs_dim)),
        activation="tanh",
    )


def pinned_loss(name: str):
    from mirrorpo.losses import get_loss
    from mirrorpo.losses.mpo import MPOLoss, apo_zero_point

    if name == "mpo-apo-zero":
        return MPOLoss("mpo", apo_zero_point())
    spec = get_loss(name)
    return lambda batch: spec(batch)


def digest(arrays) -> str:
    """sha256 of the float32 bytes of a member's parameters, in order (bit-exact check)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()


def trajectory(name: str, **options) -> dict:
    """Train one population (one member per seed in SEEDS) with loss ``name`` for STEPS
    steps; per member: the per-step loss curve, the final parameters' sum, sum of absolute
    values and float32 digest. ``options``: further TrainConfig fields (``skip_padding``)."""
    try:  # the package is mirrorpo.training since the API refactor, mirrorpo.train before
        from mirrorpo.training.population import TrainConfig, train_population
    except ImportError:
        from mirrorpo.train.population import TrainConfig, train_population

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the reduction order, hence the rounding, is fixed
    try:
        fn = pinned_loss(name)
        res = train_population(pinned_reference(), pinned_data(), [fn] * len(SEEDS),
                               list(SEEDS), TrainConfig(**TRAIN, **options),
                               dtype=torch.float32)
    finally:
        torch.set_num_threads(threads)
    members = {}
    for m, seed in enumerate(SEEDS):
        params = [p.detach()[m].numpy() for p in res.policy.parameters()]
        members[f"seed{seed}"] = {
            "failed": bool(res.failed[m]),
            "loss": [float(row[m]) for row in res.log.loss],
            "reward_margin": [float(row[m]) for row in res.log.reward_margin],
            "param_sum": float(sum(np.float64(p).sum() for p in params)),
            "param_abs_sum": float(sum(np.abs(np.float64(p)).sum() for p in params)),
            "param_digest": digest(params),
        }
    return {"log_steps": [int(s) for s in res.log.steps], "members": members}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated-by", default=None,
                        help="Which code made the file [default: mirrorpo's path].")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import mirrorpo

    where = str(Path(mirrorpo.__file__).resolve().parent.parent)
    out = {
        "generated_by": args.generated_by or f"tests/make_pinned.py with mirrorpo from {where}",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "dtype": "float32",
        "threads": 1,
        "train": TRAIN,
        "seeds": list(SEEDS),
        "losses": {name: trajectory(name) for name in LOSSES},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
