"""Dataset presets: versioned recipes of teacher and behaviour-policy mix.

Like Gymnasium's versioned ids, a preset's recipe never changes under its id: a change makes a
new version. ``level_mix`` says how the two behaviour policies of a pair are drawn from the
ladder (see :func:`sample_levels`). :func:`customise` makes a custom recipe from a preset and
teacher or level-mix overrides; its id is the preset's with ``+custom`` (``clean/v1+custom``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from mirrorpo.data.teacher import TeacherConfig

DEFAULT_PAIRS = 5120
DEFAULT_HORIZON = 100
LEVEL_MIXES = ("uniform", "weak")
"""The level mixes :func:`sample_levels` knows."""
TEACHER_KNOBS = tuple(f.name for f in fields(TeacherConfig))
"""The B-Pref settings of the teacher (TeacherConfig's fields)."""


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
    overrides: tuple[tuple[str, float | str | None], ...] = ()
    """What :func:`customise` changed: (teacher knob or 'level_mix', value as on the card)."""

    @property
    def base_id(self) -> str:
        """The named preset's id, ``clean/v1``."""
        return f"{self.name}/v{self.version}"

    @property
    def id(self) -> str:
        """``clean/v1``, or ``clean/v1+custom`` when :func:`customise` changed the recipe."""
        return self.base_id + ("+custom" if self.overrides else "")


def customise(preset: Preset, *, level_mix: str | None = None,
              **teacher: float | None) -> Preset:
    """``preset`` with the given teacher knobs (``TEACHER_KNOBS``) and level mix; None keeps the
    preset's value. A value equal to the preset's own is no override, so passing a preset's own
    settings gives the preset itself (and the same bytes). Raises ValueError for an unknown
    knob or mix, or a value outside the teacher's range."""
    if preset.overrides:
        raise ValueError(f"{preset.id} is already custom: customise the named preset")
    unknown = sorted(set(teacher) - set(TEACHER_KNOBS))
    if unknown:
        raise ValueError(f"unknown teacher setting {unknown[0]!r}; choose from "
                         f"{', '.join(TEACHER_KNOBS)}")
    if level_mix is not None and level_mix not in LEVEL_MIXES:
        raise ValueError(f"unknown level mix {level_mix!r}; choose one of "
                         f"{', '.join(LEVEL_MIXES)}")
    given = {k: float(v) for k, v in teacher.items() if v is not None}
    new_teacher = replace(preset.teacher, **given)
    mix = preset.level_mix if level_mix is None else level_mix
    before, after = preset.teacher.as_dict(), new_teacher.as_dict()
    changed = [(k, after[k]) for k in TEACHER_KNOBS if after[k] != before[k]]
    if mix != preset.level_mix:
        changed.append(("level_mix", mix))
    if not changed:
        return preset
    text = ", ".join(f"{k}={v}" for k, v in changed)
    return replace(preset, teacher=new_teacher, level_mix=mix, overrides=tuple(changed),
                   description=f"Custom recipe: {preset.base_id} with {text}. The preset: "
                               f"{preset.description}")


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
    """The named preset ``name`` or ``name/vN`` (the current version only)."""
    key = name.split("/")[0]
    if name.endswith("+custom"):
        raise ValueError(f"{name!r} is a custom recipe, not a preset: pass its base preset "
                         f"({name.removesuffix('+custom')}) and the card's overrides")
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
    raise ValueError(f"unknown level mix {mix!r}; choose one of {', '.join(LEVEL_MIXES)}")
