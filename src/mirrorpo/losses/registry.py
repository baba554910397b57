"""The loss registry: every preference loss by name, with its default hyper-parameters.

CLI choices, docs tables and test parametrisation are derived from :data:`LOSSES`; a loss is
added with the :func:`register` decorator and never listed anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from mirrorpo.config import ConfigError, Range


class PreferenceBatch(NamedTuple):
    """Per-pair inputs of a preference loss, each of shape (..., B): pairs on the last axis.

    Leading axes (e.g. population members sharing one loss) are independent: a loss may
    reduce over the last axis only (as kto_pair's batch KL estimate does).

    ``*_logps`` are summed log-likelihoods log π(y|x) of the chosen (y_w) and rejected (y_l)
    responses under the policy and the reference; ``*_lengths`` are |y| (tokens or steps);
    ``progress`` is τ = step / total_steps ∈ [0, 1] (a scalar tensor or (B,)).
    """

    policy_chosen_logps: torch.Tensor
    policy_rejected_logps: torch.Tensor
    reference_chosen_logps: torch.Tensor
    reference_rejected_logps: torch.Tensor
    chosen_lengths: torch.Tensor
    rejected_lengths: torch.Tensor
    progress: torch.Tensor

    @property
    def chosen_logratios(self) -> torch.Tensor:
        """ℓ(y_w) − ℓ_ref(y_w)."""
        return self.policy_chosen_logps - self.reference_chosen_logps

    @property
    def rejected_logratios(self) -> torch.Tensor:
        """ℓ(y_l) − ℓ_ref(y_l)."""
        return self.policy_rejected_logps - self.reference_rejected_logps

    @property
    def margin(self) -> torch.Tensor:
        """h = (ℓ(y_w) − ℓ_ref(y_w)) − (ℓ(y_l) − ℓ_ref(y_l)), the DPO implicit-reward margin."""
        return self.chosen_logratios - self.rejected_logratios

    @property
    def mean_chosen_logps(self) -> torch.Tensor:
        """ℓ̄(y_w) = ℓ(y_w) / |y_w|."""
        return self.policy_chosen_logps / self.chosen_lengths

    @property
    def mean_rejected_logps(self) -> torch.Tensor:
        """ℓ̄(y_l) = ℓ(y_l) / |y_l|."""
        return self.policy_rejected_logps / self.rejected_lengths


LossFn = Callable[..., torch.Tensor]
"""A registered loss function: (batch, **hyper-parameters) → per-pair losses (B,)."""
BatchLoss = Callable[[PreferenceBatch], torch.Tensor]
"""A loss with its hyper-parameters bound: batch → per-pair losses (B,)."""


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its function, default hyper-parameters and whether it uses π_ref."""

    name: str
    fn: LossFn
    defaults: dict[str, float] = field(default_factory=dict)
    uses_reference: bool = True
    main_hparam: str | None = None
    """The hyper-parameter a benchmark sweeps (TRL's name), if any."""
    sweep: tuple[float, ...] = ()
    """The values of ``main_hparam`` a benchmark tries (the default among them)."""
    ranges: dict[str, Range] = field(default_factory=dict)
    """Hyper-parameter → its valid range (where the formula is defined and not a no-op)."""

    def check(self, hparams: dict[str, float]) -> None:
        """ConfigError naming the loss and the value for an unknown or out-of-range
        hyper-parameter (defaults filled in)."""
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise ConfigError(f"loss '{self.name}' has no hyper-parameter(s) {unknown}; "
                              f"it takes {sorted(self.defaults) or 'none'}")
        for key, value in {**self.defaults, **hparams}.items():
            why = self.ranges[key].violation(value) if key in self.ranges else None
            if why:
                raise ConfigError(f"loss '{self.name}': {key} {why} "
                                  f"(valid: {self.ranges[key].describe()})")

    def __call__(self, batch: PreferenceBatch, **hparams: float) -> torch.Tensor:
        self.check(hparams)
        return self.fn(batch, **{**self.defaults, **hparams})


LOSSES: dict[str, LossSpec] = {}


def register(name: str, *, uses_reference: bool = True, main_hparam: str | None = None,
             sweep: tuple[float, ...] = (), ranges: dict[str, Range] | None = None,
             **defaults: float) -> Callable[[LossFn], LossFn]:
    """Decorator adding a per-pair loss function to :data:`LOSSES` under ``name``; every
    hyper-parameter needs a valid range in ``ranges``, which its default and sweep obey."""

    def wrap(fn: LossFn) -> LossFn:
        if name in LOSSES:
            raise ValueError(f"loss '{name}' registered twice")
        if main_hparam is not None and defaults[main_hparam] not in sweep:
            raise ValueError(f"loss '{name}': the sweep must contain the default {main_hparam}")
        spec = LossSpec(name, fn, dict(defaults), uses_reference, main_hparam, tuple(sweep),
                        dict(ranges or {}))
        if set(spec.ranges) != set(defaults):
            raise ValueError(f"loss '{name}': declare a range for each hyper-parameter")
        spec.check({})
        for v in sweep:
            spec.check({main_hparam: v})
        LOSSES[name] = spec
        return fn

    return wrap


def get_loss(name: str) -> LossSpec:
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}'; choose one of {', '.join(sorted(LOSSES))}")
    return LOSSES[name]
