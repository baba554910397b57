"""Resolving loss specifications into trainable members.

A loss spec is a registered name with optional hyper-parameters (``dpo``,
``dpo:beta=0.3``, ``cdpo:beta=0.1,label_smoothing=0.2``) or the path of an MPO/TA-MPO loss
file (``discovered.json``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from mirrorpo.losses import PreferenceBatch, get_loss
from mirrorpo.losses.mpo import load_mpo
from mirrorpo.losses.registry import BatchLoss


def parse_loss_spec(spec: str) -> tuple[str, BatchLoss]:
    """(display name, per-pair loss callable) for a loss spec; ValueError on bad input."""
    if spec.endswith(".json"):
        loss = load_mpo(Path(spec))
        return f"{loss.family}:{Path(spec).stem}", loss
    name, _, args = spec.partition(":")
    loss_spec = get_loss(name)
    hparams: dict[str, float] = {}
    for item in filter(None, args.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"--loss {spec!r}: expected NAME:key=value[,key=value]")
        try:
            hparams[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--loss {spec!r}: {key}={value!r} is not a number") from None
    unknown = set(hparams) - set(loss_spec.defaults)
    if unknown:
        raise ValueError(f"--loss {spec!r}: '{name}' has no hyper-parameter(s) "
                         f"{sorted(unknown)}; it takes {sorted(loss_spec.defaults) or 'none'}")
    label = name + (":" + ",".join(f"{k}={v:g}" for k, v in hparams.items()) if hparams else "")

    def member(batch: PreferenceBatch) -> torch.Tensor:
        return loss_spec(batch, **hparams)

    return label, member
