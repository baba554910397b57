"""Every file mirrorpo reads back, corrupted at random, gives a one-line ValueError naming the
file: loss files, dataset cards, search state.json, bench config.json and unit files.

Each loader is fed (a) random JSON values, (b) mutations of a valid file (a key dropped or
added, a value replaced by random JSON or by another type, a list truncated or extended) and
(c) random bytes. The only exception allowed is a ValueError (or subclass) whose message names
the file and has no newline: zero tracebacks.
"""

from __future__ import annotations

import copy
import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorpo.benchmark import BenchConfig, BenchRun, validation_unit
from mirrorpo.benchmark import test_unit as make_test_unit
from mirrorpo.data.dataset import (
    CARD_FILE,
    CARD_PROPERTIES,
    FORMAT,
    PAIRS_FILE,
    SCHEMA,
    DatasetError,
    load_dataset,
    read_card,
    write_npz_deterministic,
)
from mirrorpo.discovery.run import (
    STATE_FILE,
    SearchConfig,
    load_result,
    read_state,
    run_search,
)
from mirrorpo.envs import get_spec
from mirrorpo.losses.mpo import MPOLoss, MPOParams, load_mpo, param_names, param_names_v1
from mirrorpo.schemas import validate
from mirrorpo.training.population import TrainConfig

FUZZ = settings(max_examples=int(os.environ.get("MIRRORPO_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
"""60 examples per loader; MIRRORPO_FUZZ_EXAMPLES=2000 for a longer hunt."""

# ----------------------------------------------------------------------------- strategies

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.sampled_from([0, 1, -1, 2, 10**400, -(10**400), 1e308, "nan", "inf", "-inf", "", "1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def paths_of(doc, prefix=()):
    """Every path (tuple of keys / indices) into ``doc``, the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths_of(v, (*prefix, i))
    return out


def retyped(value):
    """``value`` as another JSON type."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return [value] if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return False


@st.composite
def mutations(draw, valid):
    """``valid`` (a JSON document) with one random change somewhere."""
    doc = copy.deepcopy(valid)
    path = draw(st.sampled_from(paths_of(doc)))
    op = draw(st.sampled_from(["drop", "replace", "retype", "truncate", "extend", "add_key",
                               "null", "bool"]))
    if not path:
        return draw(json_values) if op == "replace" else retyped(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = parent[key]
    if op == "drop":
        del parent[key]
    elif op == "replace":
        parent[key] = draw(json_values)
    elif op == "retype":
        parent[key] = retyped(value)
    elif op == "truncate" and isinstance(value, list):
        parent[key] = value[:draw(st.integers(0, max(len(value) - 1, 0)))]
    elif op == "extend" and isinstance(value, list):
        parent[key] = value + [value[-1] if value else 0.0, draw(json_values)][
            :draw(st.integers(1, 2))]
    elif op == "add_key" and isinstance(value, dict):
        value[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    elif op == "null":
        parent[key] = None
    else:
        parent[key] = True
    return doc


def file_contents(valid):
    """Text or bytes of a broken file: random JSON, a mutated valid file, or random bytes."""
    return st.one_of(
        json_values.map(json.dumps),
        mutations(valid).map(json.dumps),
        st.binary(max_size=64),
        mutations(valid).map(lambda d: json.dumps(d)[:-3]),  # truncated text
    )


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def assert_clean(load, name: str, error=ValueError):
    """Call ``load()``: it may succeed, or raise ``error`` naming ``name`` on one line."""
    try:
        load()
    except error as exc:
        msg = str(exc)
        assert name in msg, msg
        assert "\n" not in msg, msg


# ----------------------------------------------------------------------------- loss files

VALID_LOSSES = [MPOLoss("ta-mpo", MPOParams(w_exp=0.5, log_q=0.1, alpha0=0.2)).to_json(),
                MPOLoss("mpo", MPOParams(), ("0123456789abcdef",)).to_json(),
                {"family": "mpo", "version": 1, "vector": [0.0] * len(param_names_v1("mpo"))}]


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.sampled_from(VALID_LOSSES).flatmap(file_contents))
def test_loss_files(fuzz_dir, content):
    path = fuzz_dir / "loss.json"
    write(path, content)
    assert_clean(lambda: load_mpo(path), "loss.json")


@pytest.mark.parametrize("value", [True, 10**400, "0.1", [0.0], {"v": 0.0}, None, 1e308,
                                   float("inf"), float("nan")])
def test_loss_vector_values_are_refused(tmp_path, value):
    """Bools, huge numbers, strings, nested junk, non-finite values: one line, the file."""
    path = tmp_path / "bad.json"
    vector = [value] * len(param_names("mpo"))
    path.write_text(json.dumps({"family": "mpo", "version": 2, "vector": vector}))
    with pytest.raises(ValueError, match="bad.json: "):
        load_mpo(path)


def test_loss_log_rate_overflow_and_unknown_keys(tmp_path):
    path = tmp_path / "l.json"
    raw = MPOLoss("mpo", MPOParams()).to_json()
    raw["vector"][param_names("mpo").index("log_q")] = 800.0
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"l\.json: vector: log_q = 800 is too large"):
        load_mpo(path)
    path.write_text(json.dumps({**MPOLoss("mpo", MPOParams()).to_json(), "extra": 1}))
    with pytest.raises(ValueError, match=r"l\.json: extra: unknown field"):
        load_mpo(path)
    path.write_text(json.dumps({**MPOLoss("mpo", MPOParams()).to_json(), "version": True}))
    with pytest.raises(ValueError, match="version True is not supported"):
        load_mpo(path)


# ----------------------------------------------------------------------------- dataset cards

N, H = 4, 3


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """A hopper dataset directory with valid pairs.npz; each test writes its own card."""
    spec = get_spec("hopper")
    d = tmp_path_factory.mktemp("ds")
    dims = {"N": N, "H": H, "O": spec.obs_dim, "A": spec.act_dim, "Q": spec.nq, "V": spec.nv}
    rng = np.random.default_rng(0)
    arrays = {}
    for name, (dtype, symbols) in SCHEMA.items():
        shape = tuple(dims[s] for s in symbols)
        if name.endswith("_length"):
            arrays[name] = rng.integers(1, H + 1, shape).astype(dtype)
        elif name.endswith("_level"):
            arrays[name] = rng.integers(0, 5, shape).astype(dtype)
        else:
            arrays[name] = rng.normal(size=shape).astype(dtype)
    write_npz_deterministic(d / PAIRS_FILE, arrays)
    return d


def valid_card():
    spec = get_spec("hopper")
    props = {k: 0.5 for k in CARD_PROPERTIES} | {
        "count_per_level": {"chosen": [1, 1, 1, 1, 0], "rejected": [0, 1, 1, 1, 1]},
        "candidates": 6, "dropped_equal": 1, "dropped_skipped": 1}
    return {"format": FORMAT, "env": "hopper", "gym_id": "Hopper-v5", "preset": "clean",
            "seed": 0, "num_pairs": N, "horizon": H, "obs_dim": spec.obs_dim,
            "act_dim": spec.act_dim, "nq": spec.nq, "nv": spec.nv, "num_levels": 5,
            "teacher": {"temperature": 0.0, "mistake_rate": 0.0, "myopic_discount": 1.0,
                        "equal_threshold": 0.0, "skip_threshold": None},
            "level_mix": "uniform", "properties": props}


def test_valid_card_loads(dataset_dir):
    (dataset_dir / CARD_FILE).write_text(json.dumps(valid_card()))
    assert load_dataset(dataset_dir).num_pairs == N


def test_custom_recipe_card_loads(dataset_dir):
    """A custom recipe's card (``preset`` NAME/vN+custom, ``overrides``) loads."""
    card = valid_card() | {"preset": "clean/v1+custom",
                           "overrides": {"mistake_rate": 0.15, "level_mix": "weak",
                                         "skip_threshold": None}}
    (dataset_dir / CARD_FILE).write_text(json.dumps(card))
    assert load_dataset(dataset_dir).card["overrides"]["mistake_rate"] == 0.15


@FUZZ
@given(file_contents(valid_card()))
def test_dataset_cards(dataset_dir, content):
    write(dataset_dir / CARD_FILE, content)
    assert_clean(lambda: read_card(dataset_dir), CARD_FILE, DatasetError)
    # the whole dataset: a card that passes may still disagree with pairs.npz (named then)
    assert_clean(lambda: load_dataset(dataset_dir), str(dataset_dir), DatasetError)


@pytest.mark.parametrize(("change", "message"), [
    ({"env": "walker2d"}, "card.json: obs_dim: 11 does not match env 'walker2d'"),
    ({"env": "Hopper"}, "card.json: env: unknown env 'Hopper'"),
    ({"nv": 7}, "card.json: nv: 7 does not match env 'hopper'"),
    ({"teacher": {"temperature": "0"}}, "card.json: teacher.temperature: must be a number"),
    ({"level_mix": 3}, "card.json: level_mix: must be a string"),
    ({"num_levels": 10**6}, "card.json: num_levels: must be less than or equal to 32767"),
    ({"seed": 1.5}, "card.json: seed: must be an integer"),
    ({"overrides": {"flip_rate": 0.1}}, "card.json: overrides.flip_rate: "),
    ({"overrides": {"mistake_rate": 0.7}}, "card.json: overrides.mistake_rate: "),
    ({"overrides": None}, "card.json: overrides: "),
])
def test_card_disagreeing_with_its_env_or_of_wrong_types(dataset_dir, change, message):
    (dataset_dir / CARD_FILE).write_text(json.dumps({**valid_card(), **change}))
    with pytest.raises(DatasetError, match=message):
        read_card(dataset_dir)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("count_per_level", {"chosen": [1], "rejected": ["x"]},
     "properties.count_per_level.rejected.0: must be an integer"),
    ("label_agreement", 2.0, "properties.label_agreement: must be less than or equal to 1"),
    ("candidates", None, "properties.candidates: must be a number"),
])
def test_card_properties_of_wrong_types(dataset_dir, key, value, message):
    card = valid_card()
    card["properties"][key] = value
    (dataset_dir / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(DatasetError, match=message):
        read_card(dataset_dir)


# ----------------------------------------------------------------------------- search state


def sphere(candidates, generation):
    fitness = -((candidates - 0.5) ** 2).sum(axis=1)
    fitness[generation % len(fitness)] = np.nan
    return fitness


@pytest.fixture(scope="module")
def valid_state(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "run"
    try:  # a real search's fitness setup (checked too); a free-form dict otherwise
        from mirrorpo.discovery.fitness import FitnessConfig

        fitness = FitnessConfig(data=("ds",), episodes=2, train=TrainConfig(steps=3))
    except ImportError:
        fitness = {"kind": "sphere"}
    cfg = SearchConfig(family="ta-mpo", popsize=4, generations=3, seed=1, fitness=fitness)
    run_search(cfg, out, sphere, resume=False, fitted_on=("0123456789abcdef",))
    return json.loads((out / STATE_FILE).read_text())


def _load_state(d):
    read_state(d)
    load_result(d)


@FUZZ
@given(data=st.data())
def test_search_states(fuzz_dir, valid_state, data):
    content = data.draw(file_contents(valid_state))
    write(fuzz_dir / STATE_FILE, content)
    assert_clean(lambda: _load_state(fuzz_dir), STATE_FILE)


def _state_with(state, edit):
    state = copy.deepcopy(state)
    edit(state)
    return state


STATE_EDITS = [
    (lambda s: s["history"][1].pop("mean_vector"), r"history\.1\.mean_vector: missing"),
    (lambda s: s["history"][0]["fitness"].pop(), r"history\.0\.fitness: has 3 values, expected 4"),
    (lambda s: s["history"][2]["mean_vector"].append(0.0),
     r"history\.2\.mean_vector: has 28 values, expected 27"),
    (lambda s: s["mean_vector"].pop(), "mean_vector: has 26 values, expected 27"),
    (lambda s: s["fitness_fingerprints"].append("fedcba9876543210"),
     r"fitness_fingerprints: has 2 values, expected 1 \(config\.fitness\.data\)"),
    (lambda s: s["fitness_fingerprints"].__setitem__(0, "XYZ"), r"fitness_fingerprints\.0: "),
    (lambda s: s["history"][0]["fitness"].__setitem__(0, "NaN"),
     r'history\.0\.fitness\.0: must be a number, "nan"'),
    (lambda s: s["history"][0]["fitness"].__setitem__(0, "1.5"), r"history\.0\.fitness\.0: "),
    (lambda s: s["config"].pop("popsize"), r"config\.popsize: missing"),
    (lambda s: s["config"].update(popsize="4"), r"config\.popsize: must be an integer"),
    (lambda s: s["config"].update(strategy_options={"sigma": "big"}),
     r"config\.strategy_options\.sigma: must be a number"),
    (lambda s: s["config"].update(family="xpo"), r"config: .*'xpo'"),
    (lambda s: s.update(best={"generation": 0, "fitness": 1.0, "vector": [[1.0]]}),
     r"best\.vector\.0: "),
    (lambda s: s.update(best=[1.0]), "best: must be a JSON object"),
    (lambda s: s.update(generations_done=7), "generations_done: is 7, but history holds 3"),
    (lambda s: s["best"].update(generation=5), r"best\.generation: is 5"),
    (lambda s: s["history"][1].update(generation=0), r"history\.1\.generation: is 0, expected 1"),
    (lambda s: s.update(version=True), "not a search state of version 1"),
    (lambda s: s.update(history=s["history"] * 2, generations_done=6),
     "history: holds 6 generations, more than config.generations = 3"),
    (lambda s: s["mean_vector"].__setitem__(0, 10**400), "mean_vector.0: number too large"),
]


@pytest.mark.parametrize(("edit", "message"), STATE_EDITS)
def test_malformed_search_states_are_named(tmp_path, valid_state, edit, message):
    (tmp_path / STATE_FILE).write_text(json.dumps(_state_with(valid_state, edit)))
    with pytest.raises(ValueError, match=message) as err:
        load_result(tmp_path)
    assert str(tmp_path / STATE_FILE) in str(err.value)


def test_resume_refuses_a_malformed_state(tmp_path, valid_state):
    cfg = SearchConfig.from_json(valid_state["config"])
    state = _state_with(valid_state, lambda s: s["history"][0]["fitness"].pop())
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"state\.json: history\.0\.fitness: has 3 values"):
        run_search(cfg, tmp_path, sphere, resume=True)


@pytest.mark.parametrize(("edit", "message"), [STATE_EDITS[0], STATE_EDITS[3], STATE_EDITS[10]])
def test_report_of_a_malformed_state_names_the_file(tmp_path, valid_state, edit, message):
    from mirrorpo.discovery.report import write_report

    (tmp_path / STATE_FILE).write_text(json.dumps(_state_with(valid_state, edit)))
    with pytest.raises(ValueError, match=message) as err:
        write_report(tmp_path)
    assert STATE_FILE in str(err.value)
    assert not (tmp_path / "report").exists()


# ----------------------------------------------------------------------------- bench


def _scorer(stack, seed):
    n = stack.log_std.shape[0]
    return np.linspace(0.0, 1.0, n), np.linspace(1.0, 2.0, n)


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory):
    """(config.json, validation unit, test unit) of a real (tiny) benchmark run."""
    from conftest import random_stack

    spec = get_spec("hopper")
    rng = np.random.default_rng(0)
    dims = {"N": 6, "H": 4, "O": spec.obs_dim, "A": spec.act_dim, "Q": spec.nq, "V": spec.nv}
    arrays = {}
    for name, (dtype, symbols) in SCHEMA.items():
        shape = tuple(dims[s] for s in symbols)
        if name.endswith("_length"):
            arrays[name] = rng.integers(1, 5, shape).astype(dtype)
        else:
            arrays[name] = rng.normal(size=shape).astype(dtype)
    ref = random_stack(spec.obs_dim, spec.act_dim, 1, seed=2)
    cfg = BenchConfig("hopper", ("clean",), ("dpo", "ipo"), seeds=2, val_seeds=1, episodes=2,
                      train=TrainConfig(steps=4, batch_pairs=2, log_every=2), curve_points=2)
    root = tmp_path_factory.mktemp("bench") / "run"
    run = BenchRun.create(root, cfg)
    val = validation_unit(cfg, arrays, ref, _scorer)
    run.save("clean", "validation", val)
    run.save("clean", "test", make_test_unit(cfg, val["chosen"], arrays, ref, _scorer))
    read = BenchRun.open(root)
    assert read.cfg == cfg
    assert read.load("clean", "validation") is not None
    assert read.load("clean", "test") is not None
    units = root / "units"
    return (json.loads((root / "config.json").read_text()),
            json.loads((units / "clean.validation.json").read_text()),
            json.loads((units / "clean.test.json").read_text()))


def _bench_dir(root, config, **units):
    (root / "units").mkdir(parents=True, exist_ok=True)
    write(root / "config.json", config if isinstance(config, str | bytes) else json.dumps(config))
    for phase, unit in units.items():
        write(root / "units" / f"clean.{phase}.json",
              unit if isinstance(unit, str | bytes) else json.dumps(unit))


@FUZZ
@given(data=st.data())
def test_bench_configs(fuzz_dir, bench_files, data):
    content = data.draw(file_contents(bench_files[0]))
    _bench_dir(fuzz_dir / "bench", content)
    assert_clean(lambda: BenchRun.open(fuzz_dir / "bench"), "config.json")


@FUZZ
@given(data=st.data(), phase=st.sampled_from(["validation", "test"]))
def test_bench_units(fuzz_dir, bench_files, data, phase):
    config, val, test = bench_files
    content = data.draw(file_contents(val if phase == "validation" else test))
    _bench_dir(fuzz_dir / "bench", config, **{phase: content})
    run = BenchRun.open(fuzz_dir / "bench")
    assert_clean(lambda: run.load("clean", phase), f"clean.{phase}.json")


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "red"}, "config.json: colour: unknown field"),
    ({"seeds": "5"}, "config.json: seeds: must be an integer"),
    ({"presets": "clean"}, "config.json: presets: must be a JSON list"),
    ({"train": {"steps": 1.5}}, r"config.json: train\.steps: must be an integer"),
    ({"train": {"stepz": 1}}, r"config.json: train\.stepz: unknown field"),
    ({"curve_points": 10**30}, "config.json: curve_points: "),
    ({"losses": ["dpo", 3]}, r"config.json: losses\.1: must be a string"),
])
def test_bench_config_errors(tmp_path, bench_files, change, message):
    _bench_dir(tmp_path, {**bench_files[0], **change})
    with pytest.raises(ValueError, match=message):
        BenchRun.open(tmp_path)


def _edited(unit, edit):
    unit = copy.deepcopy(unit)
    edit(unit)
    return unit


@pytest.mark.parametrize(("phase", "edit", "message"), [
    ("test", lambda u: u["members"][0].pop("score"), r"members\.0\.score: missing"),
    ("test", lambda u: u["members"][1].update(seed="0"), r"members\.1\.seed: must be an integer"),
    ("test", lambda u: u["members"][0].update(curve={"x": 1.0}), r"members\.0\.curve\.x"),
    ("test", lambda u: u["members"][0]["logs"]["loss"].pop(),
     r"members\.0\.logs\.loss: has 2 values, expected 3"),
    ("test", lambda u: u["members"][0]["logs"].pop("reward_margin"),
     r"members\.0\.logs: lacks reward_margin"),
    ("test", lambda u: u.pop("reference"), "reference: missing"),
    ("test", lambda u: u["reference_mean_action"].pop(),
     "reference_mean_action: has 1 values, expected 2"),
    ("test", lambda u: u.update(members=[m for m in u["members"] if m["loss"] != "ipo"]),
     "members: none of loss ipo"),
    ("validation", lambda u: u["chosen"].pop("dpo"), "chosen: lacks loss dpo"),
    ("validation", lambda u: u.update(chosen=["dpo"]), "chosen: must be a JSON object"),
    ("validation", lambda u: u["members"][0].update(failed="no"),
     r"members\.0\.failed: must be true or false"),
])
def test_bench_unit_errors(tmp_path, bench_files, phase, edit, message):
    config, val, test = bench_files
    unit = _edited(val if phase == "validation" else test, edit)
    _bench_dir(tmp_path, config, **{phase: unit})
    with pytest.raises(ValueError, match=message) as err:
        BenchRun(tmp_path, BenchRun.open(tmp_path).cfg).load("clean", phase)
    assert f"clean.{phase}.json: " in str(err.value)


# ----------------------------------------------------------------------------- the helper


def test_validate_message_form():
    from mirrorpo.schemas import SearchState

    with pytest.raises(ValueError) as err:
        validate(SearchState, {"version": 1, "config": {}, "generations_done": -1,
                               "formula": "", "mean_vector": [], "best": None,
                               "history": []}, "dir/state.json")
    assert str(err.value) == ("dir/state.json: generations_done: must be greater than or equal "
                              "to 0")
    with pytest.raises(DatasetError, match=r"^c\.json: must be a JSON object$"):
        validate(SearchState, [], "c.json", error=DatasetError)
    assert math.isnan(validate(SearchState, {
        "version": 1, "config": {}, "generations_done": 0, "formula": "", "best": None,
        "mean_vector": ["nan"], "history": []}, "s.json").mean_vector[0])
