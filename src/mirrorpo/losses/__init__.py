"""Preference-optimization losses: pure per-pair functions found by name in a registry."""

from mirrorpo.losses import baselines as _baselines  # noqa: F401  (registers the losses)
from mirrorpo.losses import distilled as _distilled  # noqa: F401
from mirrorpo.losses.registry import LOSSES, LossSpec, PreferenceBatch, get_loss, register

__all__ = ["LOSSES", "LossSpec", "PreferenceBatch", "get_loss", "register"]
