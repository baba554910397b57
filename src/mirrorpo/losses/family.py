"""Loss families: parametrised losses a search moves through, behind one protocol.

A family maps a flat real vector (its search coordinates, ``param_names`` in order) to a
preference loss. ``mirrorpo.discovery`` (the ES run, its fitness and its report) sees families only
through :class:`LossFamily` and the :data:`FAMILIES` registry, so a new family is one module
implementing the protocol plus one entry in :data:`FAMILIES`; ``tests/test_loss_family.py``
then checks it like the others.

Loss files (a search's ``best.json``) name their family in a ``"family"`` key;
:func:`load_loss` dispatches on it to that family's ``load``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from mirrorpo.fileio import read_json
from mirrorpo.losses.mpo import MPO_FAMILY, TA_MPO_FAMILY
from mirrorpo.losses.registry import PreferenceBatch


@runtime_checkable
class FamilyLoss(Protocol):
    """One member of a family: a batch loss that knows its family and vector and saves itself
    as a loss file (JSON with at least ``"family"`` and ``"vector"``)."""

    @property
    def family(self) -> str: ...

    @property
    def vector(self) -> np.ndarray: ...

    @property
    def fitted_on(self) -> tuple[str, ...]:
        """Fingerprints of the datasets a search fitted it on (saved in its file; empty:
        none recorded). A search sets it with ``dataclasses.replace``."""
        ...

    def __call__(self, batch: PreferenceBatch) -> torch.Tensor: ...

    def save(self, path: str | Path) -> None: ...


class Panel(NamedTuple):
    """One panel of a report's learned-functions figure: ``draw(ax)`` plots the named
    vectors on a Matplotlib axes and may refine the title the report set from ``title``."""

    title: str
    draw: Callable[[Any], None]


class LossFamily(Protocol):
    """What a search needs of a loss family."""

    name: str
    """Its key in :data:`FAMILIES` and the ``"family"`` of its loss files."""
    version: int
    """Version of its parametrisation; loss files record it."""
    param_names: tuple[str, ...]
    """Names of the vector's coordinates, in order."""
    start_points: Mapping[str, Callable[[], np.ndarray]]
    """Named exact points: start name → vector factory (at the point's default
    hyper-parameters). A start point named after a registered loss (``-`` read as ``_``, e.g.
    "apo-zero" → ``apo_zero``) must equal that loss at its default hyper-parameters."""

    def loss(self, vector: np.ndarray | list[float]) -> FamilyLoss:
        """The member at ``vector``; ValueError for a vector of the wrong length."""
        ...

    def formula(self, vector: np.ndarray) -> str:
        """A readable formula of the member at ``vector``."""
        ...

    def load(self, path: str | Path) -> FamilyLoss:
        """A loss file of this family; errors name the file and the problem."""
        ...

    def convert(self, loss: FamilyLoss) -> np.ndarray:
        """The vector of this family that is the same loss as ``loss`` (a member of any
        family, e.g. read by :func:`load_loss`); ValueError when this family cannot express
        it."""
        ...

    def plot_panels(self, vectors: Mapping[str, np.ndarray]) -> list[Panel]:
        """The panels that show the learned functions of the named vectors."""
        ...


FAMILIES: dict[str, LossFamily] = {f.name: f for f in (MPO_FAMILY, TA_MPO_FAMILY)}
"""Family name → family; a new family is added here and nowhere else."""


def get_family(name: str) -> LossFamily:
    """The family called ``name``; ValueError naming the known ones otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"unknown loss family '{name}'; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def start_point_names() -> tuple[str, ...]:
    """Every family's start-point names, each once, in registry order."""
    return tuple(dict.fromkeys(n for f in FAMILIES.values() for n in f.start_points))


def load_loss(path: str | Path) -> FamilyLoss:
    """A loss file of any registered family (its ``"family"`` key picks the loader); errors
    name the file and the problem."""
    raw = read_json(path, "loss file")
    family = raw.get("family") if isinstance(raw, dict) else None
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"{path}: unknown loss family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].load(path)
