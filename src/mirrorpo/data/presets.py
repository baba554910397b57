"""Dataset presets: versioned recipes of teacher and behaviour-policy mix.

Like Gymnasium's versioned ids, a preset's recipe never changes under its id: a change makes a
new version. ``level_mix`` says how the two behaviour policies of a pair are drawn from the
ladder (see :func:`sample_levels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mirrorpo.data.teacher import TeacherConfig

DEFAULT_PAIRS = 5120
DEFAULT_HORIZON = 100


@dataclass(frozen=True)
class Preset:
    """A named dataset recipe."""

    name: str
    version: int
    description: str
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    level_mix: str = "uniform"
    """'uniform': both levels uniform over the ladder; 'weak': see sample_levels."""
    pairs: int = DEFAULT_PAIRS

    @property
    def id(self) -> str:
        return f"{self.name}/v{self.version}"


def _noisy(eps: int) -> Preset:
    return Preset(
        f"noisy-{eps}", 1,
        f"Rational teacher whose labels are flipped with probability {eps / 100:.2f}.",
        TeacherConfig(mistake_rate=eps / 100),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("clean", 1, "Rational teacher (argmax of true segment return), no noise."),
        _noisy(10),
        _noisy(20),
        _noisy(30),
        _noisy(40),
        Preset(
            "stochastic", 1,
            "Bradley–Terry teacher with temperature 0.1 (in units of the mean |segment return|).",
            TeacherConfig(temperature=0.1),
        ),
        Preset(
            "mixed", 1,
            "Rational teacher, but 70% of pairs compare two policies from the weaker half of "
            "the ladder: chosen segments are better than their partner, often not good.",
            level_mix="weak",
        ),
        Preset("small", 1, "Clean teacher, 512 pairs.", pairs=512),
    ]
}


def get_preset(name: str) -> Preset:
    key = name.split("/")[0]
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[key]
    if "/" in name and name != preset.id:
        raise ValueError(f"preset {name!r} is not available; the current one is {preset.id}")
    return preset


def sample_levels(
    mix: str, n_levels: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ladder levels (0 = weakest) of the two behaviour policies for n pairs.

    'uniform': each level independently uniform over the ladder.
    'weak': with probability 0.7 both levels uniform over the weaker half
    (levels < ceil(L/2)), else uniform over the whole ladder.
    """
    a = rng.integers(0, n_levels, n)
    b = rng.integers(0, n_levels, n)
    if mix == "uniform":
        return a, b
    if mix == "weak":
        half = (n_levels + 1) // 2
        weak = rng.random(n) < 0.7
        a = np.where(weak, rng.integers(0, half, n), a)
        b = np.where(weak, rng.integers(0, half, n), b)
        return a, b
    raise ValueError(f"unknown level mix {mix!r}")
