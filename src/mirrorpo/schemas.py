"""Schemas of the JSON files mirrorpo reads back, and one way to report a file that breaks one.

Every loader checks the parsed JSON of its file against a pydantic model before using it, so a
corrupted or hand-edited file gives one line naming the file and the field,
``"<path>: <field.sub.field>: <what is wrong>"`` (a ``ValueError``), never a traceback. The
models check structure and types strictly: no "3" for 3, no ``true`` for 1, no number too large
for a float. Checks that need other knowledge (a family's vector length, an env's observation
width, the run's config) stay with the loaders, which raise in the same form.

One model per file kind:

* :class:`LossFile`: a loss file (``MPOLoss.save``: best.json, mean.json, a discovered loss);
* :class:`DatasetCard`: a dataset's card.json (``mirrorpo.data.dataset.read_card``);
* :class:`SearchState`: a search's state.json (``mirrorpo.discovery.run.read_state``); its
  ``config`` is checked against ``dataclass_model(SearchConfig)``;
* :class:`BenchUnit`: a benchmark unit, ``units/PRESET.PHASE.json`` (``BenchRun.load``);
* a benchmark's config.json: ``dataclass_model(BenchConfig)`` (``BenchConfig.from_json``).

:func:`dataclass_model` builds the model of a config dataclass from its fields, so the schema
of a saved config follows the dataclass when fields are added.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    create_model,
)

# ----------------------------------------------------------------------------- value types

Int = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer that fits a C long (strict: no bool, no float, no string)."""
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Positive = Annotated[int, Field(ge=1, le=2**63 - 1)]
Number = float
"""A JSON number (strict: an int is fine, a bool or a string is not); NaN and ±inf allowed."""
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
"""A dataset's content fingerprint (``mirrorpo.data.dataset.fingerprint``): 16 hex digits."""

NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
"""How state.json writes the non-finite floats (``mirrorpo.discovery.run.encode_floats``)."""


def _encoded_float(value: Any) -> float:
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError('must be a number, "nan", "inf" or "-inf"')
    try:
        return float(value)
    except OverflowError:
        raise ValueError("number too large for a float") from None


EncodedFloat = Annotated[float, PlainValidator(_encoded_float)]
"""A float as state.json stores it: a JSON number, or "nan", "inf", "-inf"."""


class Strict(BaseModel):
    """Base of the file models: strict types, unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Open(BaseModel):
    """Base of the descriptive parts of a file: strict types, unknown keys kept."""

    model_config = ConfigDict(strict=True, extra="allow")


# ----------------------------------------------------------------------------- loss files

MAX_LOG_RATE = 700.0
"""Largest log-rate (an MPO vector's log_q, log_a1, log_a2) a loss file may hold: the rate
exp(v) stays finite."""


class LossFile(Strict):
    """A loss file of the MPO families (``MPOLoss.to_json``); "names", "formula" and
    "fitted_on" (a search's fitness datasets, by fingerprint) optional; a knock-out variant
    (``mirrorpo.ablation``) also records "ablation_of" (the original's file) and "dropped"
    (the term, ``mirrorpo.losses.mpo.TERMS``)."""

    family: str
    version: Int
    names: list[str] | None = None
    vector: list[FiniteFloat]
    formula: str | None = None
    fitted_on: list[Fingerprint] | None = None
    ablation_of: str | None = None
    dropped: str | None = None


# ----------------------------------------------------------------------------- dataset card


class TeacherCard(Open):
    """The card's ``teacher`` (``TeacherConfig.as_dict``, ranges as there); skip_threshold
    null is −inf."""

    temperature: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    mistake_rate: Annotated[float, Field(ge=0, le=0.5)]
    myopic_discount: Annotated[float, Field(gt=0, le=1)]
    equal_threshold: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    skip_threshold: FiniteFloat | None = None


class LevelCounts(Strict):
    chosen: list[Count]
    rejected: list[Count]


class CardProperties(Open):
    """The card's measured ``properties`` (``mirrorpo.data.generate.dataset_card``)."""

    label_agreement: Annotated[float, Field(ge=0, le=1)]
    mean_score_chosen: FiniteFloat
    mean_score_rejected: FiniteFloat
    mean_return_chosen: FiniteFloat
    mean_return_rejected: FiniteFloat
    count_per_level: LevelCounts
    candidates: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    dropped_equal: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    dropped_skipped: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    mean_segment_length: FiniteFloat
    terminated_fraction: Annotated[float, Field(ge=0, le=1)]


class CardOverrides(Strict):
    """A custom recipe's ``overrides``: the teacher settings (ranges as ``teacher``) and level
    mix that differ from its named preset; only those present were changed."""

    temperature: Annotated[float, Field(ge=0, allow_inf_nan=False)] = None
    mistake_rate: Annotated[float, Field(ge=0, le=0.5)] = None
    myopic_discount: Annotated[float, Field(gt=0, le=1)] = None
    equal_threshold: Annotated[float, Field(ge=0, allow_inf_nan=False)] = None
    skip_threshold: FiniteFloat | None = None
    level_mix: Annotated[str, Field(min_length=1)] = None


class DatasetCard(Open):
    """A dataset's card.json; descriptive keys beyond these are kept unchecked."""

    format: str
    env: str
    preset: str
    seed: Int
    num_pairs: Positive
    horizon: Positive
    obs_dim: Positive
    act_dim: Positive
    nq: Positive
    nv: Positive
    num_levels: Annotated[int, Field(ge=1, le=2**15 - 1)] = None  # may be left out, not null
    """Levels are stored as int16."""
    teacher: TeacherCard
    level_mix: Annotated[str, Field(min_length=1)]
    properties: CardProperties
    overrides: CardOverrides = None  # only on custom recipes; may be left out, not null
    """What a custom recipe (``preset`` NAME/vN+custom) changed from its named preset; the
    effective values are ``teacher`` and ``level_mix``."""
    fingerprint: Fingerprint = None  # may be left out (cards written before it), not null
    """The arrays' content fingerprint (``mirrorpo.data.dataset.fingerprint``)."""


# ----------------------------------------------------------------------------- search state


class SearchGeneration(Strict):
    """One generation of state.json's ``history``."""

    generation: Count
    best: EncodedFloat
    mean: EncodedFloat
    median: EncodedFloat
    failed: Count
    mean_vector: list[EncodedFloat]
    fitness: list[EncodedFloat]
    draws: list[Count] | None = None
    """Pool mode: the dataset index (``config.fitness.data``) each fitness seed slot trained
    on, shared by the generation's candidates; runs made before it have none."""
    score: list[EncodedFloat] | None = None
    """Successive halving: each candidate's score at the last step it trained (a rung's
    score on fewer episodes for a dropped one; ``fitness`` is what the strategy was told)."""
    steps: list[Count] | None = None
    """Successive halving: the steps each candidate trained."""


class SearchBest(Strict):
    generation: Count
    fitness: EncodedFloat
    vector: list[EncodedFloat]


class FitnessDraw(Strict):
    """A fitness dataset of state.json's ``fitness_draws`` (from its card)."""

    env: str
    preset: str
    seed: Int


class SearchState(Strict):
    """A search's state.json (``mirrorpo.discovery.run.state_to_json``)."""

    version: Int
    config: dict[str, Any]
    generations_done: Count
    formula: str
    mean_vector: list[EncodedFloat]
    best: SearchBest | None
    history: list[SearchGeneration]
    fitness_fingerprints: list[Fingerprint] | None = None
    """The fingerprint of each fitness dataset (``config.fitness.data``); runs made before
    fingerprints existed have none."""
    fitness_draws: list[FitnessDraw] | None = None
    """The environment, preset and seed of each fitness dataset, in the same order; runs made
    before it have none."""


SEARCH_HISTORY = TypeAdapter(list[SearchGeneration])


# ----------------------------------------------------------------------------- bench units


class BenchMember(Strict):
    """One trained member of a unit (``mirrorpo.benchmark.Member``); null scores are −inf."""

    loss: str
    spec: str
    seed: Int
    failed: bool
    status: Literal["ok", "failed"] | None = None
    """Written since the status field exists; older units have only ``failed``."""
    fail_reason: str | None
    score: Number | None
    score_mean_action: Number | None
    curve: dict[Annotated[str, Field(pattern=r"^[0-9]{1,18}$")], Number | None]
    """Training step (a decimal string once in JSON) → score."""
    logs: dict[str, list[Number | None]]
    log_steps: list[Count]


class BenchUnit(Strict):
    """A finished (preset, phase) unit: validation units have ``chosen``, test units
    ``reference`` (and ``reference_mean_action``)."""

    members: list[BenchMember]
    chosen: dict[str, str] | None = None
    reference: list[Number | None] | None = None
    reference_mean_action: list[Number | None] | None = None
    fingerprint: Fingerprint | None = None
    """The fingerprint of the dataset its members trained on (units written before it have
    none)."""


# ----------------------------------------------------------------------------- dataclasses


def _field_type(tp: Any) -> Any:
    """The strict JSON type of a dataclass field's annotation (tuples are JSON lists)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is float:
        return FiniteFloat
    if tp is int:
        return Int
    if dataclasses.is_dataclass(tp):
        return dataclass_model(tp)
    if tp in (tuple, list):
        return list[Any]
    if tp is dict:
        return dict[str, Any]
    if origin in (tuple, list):
        return list[_field_type(args[0])] if args else list[Any]
    if origin is dict:
        return dict[str, _field_type(args[1])]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_field_type(a) for a in args)]  # noqa: UP007
    return tp


@functools.cache
def dataclass_model(cls: type, optional: frozenset[str] | None = None,
                    overrides: tuple[tuple[str, Any], ...] = ()) -> type[BaseModel]:
    """A strict model of the JSON of config dataclass ``cls`` (unknown keys refused).

    A key may be left out when its field has a default, or, given ``optional``, only when
    it is named there. ``overrides`` are (field, type) pairs replacing a field's type.
    The model only checks: build the dataclass from the raw JSON afterwards.
    """
    hints = typing.get_type_hints(cls)
    types_ = dict(overrides)
    specs = {}
    for f in dataclasses.fields(cls):
        has_default = (f.default is not dataclasses.MISSING
                       or f.default_factory is not dataclasses.MISSING)
        may_skip = has_default if optional is None else f.name in optional
        tp = types_.get(f.name, _field_type(hints[f.name]))
        specs[f.name] = (tp, None if may_skip else ...)  # defaults are never validated
    return create_model(f"{cls.__name__}File", __base__=Strict, **specs)


# ----------------------------------------------------------------------------- errors

_MESSAGES = {
    "missing": "missing",
    "extra_forbidden": "unknown field",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON list",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "finite_number": "must be a finite number",
    "string_pattern_mismatch": "must be a whole number written in digits",
}


def _short(part: Any, limit: int = 40) -> str:
    text = str(part).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(exc: ValidationError, path: str | Path, field: str = "") -> str:
    """One line: ``"path: field.sub.field: what is wrong"`` for the first error of ``exc``
    (with how many more there are); ``field`` prefixes the location."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = ".".join(_short(p) for p in (*([field] if field else []), *first["loc"]))
    msg = _MESSAGES.get(first["type"]) or first["msg"]
    msg = msg.removeprefix("Value error, ").replace("Input should be", "must be")
    msg = _short(msg[:1].lower() + msg[1:], 200)
    more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" \
        if len(errors) > 1 else ""
    return f"{path}: {loc}: {msg}{more}" if loc else f"{path}: {msg}{more}"


def validate(schema: type[BaseModel] | TypeAdapter, raw: Any, path: str | Path, *,
             field: str = "", error: type[ValueError] = ValueError) -> Any:
    """``raw`` (parsed JSON of ``path``) checked by ``schema`` (a model or a TypeAdapter):
    the model instance or validated value; ``error`` (a ValueError class) with the message of
    :func:`describe` otherwise. ``field`` is where ``raw`` sits in the file ("" for all of it).
    """
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(raw)
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise error(describe(exc, path, field)) from None
