"""Dataset format: round trip, and every validation error names its file."""

import json
import zipfile

import numpy as np
import pytest

from mirrorpo.data.dataset import (
    CARD_FILE,
    CARD_PROPERTIES,
    PAIRS_FILE,
    SCHEMA,
    DatasetError,
    fingerprint,
    load_dataset,
    save_dataset,
    write_npz_deterministic,
)
from mirrorpo.data.dataset import FORMAT as DATASET_FORMAT

N, H, O, A, Q, V = 6, 4, 11, 3, 6, 6  # noqa: E741


def make_arrays(seed=0):
    rng = np.random.default_rng(seed)
    dims = {"N": N, "H": H, "O": O, "A": A, "Q": Q, "V": V}
    out = {}
    for name, (dtype, symbols) in SCHEMA.items():
        shape = tuple(dims[s] for s in symbols)
        if dtype.startswith("float"):
            out[name] = rng.normal(size=shape).astype(dtype)
        elif dtype == "bool":
            out[name] = rng.random(shape) < 0.5
        elif name.endswith("_length"):
            out[name] = rng.integers(1, H + 1, shape).astype(dtype)
        else:
            out[name] = rng.integers(0, 5, shape).astype(dtype)
    return out


PROPS = {k: 0.0 for k in CARD_PROPERTIES} | {"count_per_level": {"chosen": [], "rejected": []}}
CARD = {"format": DATASET_FORMAT, "env": "hopper", "num_pairs": N, "horizon": H, "obs_dim": O,
        "act_dim": A, "nq": Q, "nv": V, "num_levels": 5, "preset": "clean/v1", "seed": 0,
        "teacher": {"temperature": 0.0, "mistake_rate": 0.0, "myopic_discount": 1.0,
                    "equal_threshold": 0.0, "skip_threshold": None},
        "level_mix": "uniform", "properties": PROPS}


@pytest.fixture
def saved(tmp_path):
    d = tmp_path / "ds"
    save_dataset(d, make_arrays(), CARD)
    return d


def test_round_trip(saved):
    ds = load_dataset(saved)
    want = make_arrays()
    assert set(ds.arrays) == set(want)
    for k, v in want.items():
        np.testing.assert_array_equal(ds.arrays[k], v)
        assert ds.arrays[k].dtype == v.dtype
    assert ds.card == {**CARD, "fingerprint": fingerprint(want)}  # written at save
    assert ds.fingerprint == fingerprint(want)
    assert ds.num_pairs == N and ds.horizon == H
    np.testing.assert_allclose(ds.returns("chosen"), want["chosen_rewards"].sum(1))


def test_refuses_to_overwrite(saved):
    before = (saved / PAIRS_FILE).read_bytes()
    with pytest.raises(ValueError, match="already holds a dataset"):
        save_dataset(saved, make_arrays(1), CARD)
    assert (saved / PAIRS_FILE).read_bytes() == before
    save_dataset(saved, make_arrays(1), CARD, overwrite=True)
    assert (saved / PAIRS_FILE).read_bytes() != before


def test_npz_bytes_are_deterministic(tmp_path):
    a = make_arrays()
    write_npz_deterministic(tmp_path / "a.npz", a)
    write_npz_deterministic(tmp_path / "b.npz", dict(reversed(list(a.items()))))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_fingerprint_is_deterministic_and_sees_every_change():
    a = make_arrays()
    fp = fingerprint(a)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint(dict(reversed(list(a.items())))) == fp  # name order, not dict order
    assert fingerprint({k: v.copy() for k, v in a.items()}) == fp
    assert fingerprint({**a, "start_qpos": a["start_qpos"].astype(">f8")}) == fp  # same values
    changed = [
        {**a, "chosen_rewards": a["chosen_rewards"] + np.eye(N, H)},  # a value
        {**a, "chosen_rewards": a["chosen_rewards"].astype(np.float32)},  # a dtype
        {**a, "start_qpos": a["start_qpos"].reshape(-1)},  # a shape, same bytes
        {("x" + k if k == "start_qpos" else k): v for k, v in a.items()},  # a name
        make_arrays(1),
    ]
    assert len({fp, *map(fingerprint, changed)}) == len(changed) + 1


def test_card_without_fingerprint_loads_and_a_wrong_one_is_refused(saved):
    card = json.loads((saved / CARD_FILE).read_text())
    del card["fingerprint"]  # a card written before fingerprints existed
    (saved / CARD_FILE).write_text(json.dumps(card))
    assert "fingerprint" not in load_dataset(saved).card
    # arrays changed after saving, still valid: the card's fingerprint no longer matches
    (saved / CARD_FILE).write_text(json.dumps({**card, "fingerprint": fingerprint(make_arrays())}))
    rewrite(saved, lambda a: a["chosen_rewards"].__setitem__((0, 0), 1.5))
    with pytest.raises(DatasetError) as err:
        load_dataset(saved)
    assert str(saved / CARD_FILE) in str(err.value) and "does not match" in str(err.value)
    (saved / CARD_FILE).write_text(json.dumps({**card, "fingerprint": "XYZ"}))
    with pytest.raises(DatasetError, match="fingerprint"):
        load_dataset(saved)


def rewrite(d, mutate):
    arrays = make_arrays()
    mutate(arrays)
    write_npz_deterministic(d / PAIRS_FILE, arrays)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.pop("chosen_obs"), "missing arrays chosen_obs"),
        (lambda a: a.update(extra=np.zeros(3)), "unexpected arrays extra"),
        (lambda a: a.update(chosen_rewards=a["chosen_rewards"].astype(np.float32)),
         "'chosen_rewards' has dtype float32, expected float64"),
        (lambda a: a.update(rejected_actions=a["rejected_actions"][:, :2]),
         "'rejected_actions' has shape"),
        (lambda a: a["chosen_obs"].__setitem__((0, 0, 0), np.nan), "NaN or infinite"),
        (lambda a: a["start_qvel"].__setitem__((1, 1), np.inf), "NaN or infinite"),
        (lambda a: a["chosen_length"].__setitem__(0, H + 1), "'chosen_length' outside"),
        (lambda a: a["rejected_length"].__setitem__(0, 0), "'rejected_length' outside"),
        (lambda a: a["chosen_level"].__setitem__(0, 7), "'chosen_level' outside"),
    ],
)
def test_malformed_arrays(saved, mutate, message):
    rewrite(saved, mutate)
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(saved)
    assert str(saved / PAIRS_FILE) in str(err.value)


def test_truncated_archive(saved):
    data = (saved / PAIRS_FILE).read_bytes()
    (saved / PAIRS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated or not a valid .npz"):
        load_dataset(saved)


def test_not_an_archive(saved):
    (saved / PAIRS_FILE).write_text("hello")
    with pytest.raises(DatasetError, match=PAIRS_FILE):
        load_dataset(saved)


def test_pickled_member_is_refused(saved):
    with zipfile.ZipFile(saved / PAIRS_FILE, "a") as zf, zf.open("evil.npy", "w") as fh:
        np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="unreadable array|unexpected arrays"):
        load_dataset(saved)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "card.json: no such file"),
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "other"}), "not a mirrorpo dataset card"),
        (json.dumps({k: v for k, v in CARD.items() if k != "horizon"}), "missing field 'horizon'"),
        (json.dumps({**CARD, "num_pairs": N + 1}), "has shape"),
        (json.dumps({**CARD, "horizon": "4"}), "'horizon' must be a positive integer"),
        (json.dumps({**CARD, "properties": {}}), "'properties' lacks label_agreement"),
    ],
)
def test_bad_card(saved, content, message):
    if content is None:
        (saved / CARD_FILE).unlink()
    else:
        (saved / CARD_FILE).write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(saved)


def test_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset directory"):
        load_dataset(tmp_path / "nope")


def test_card_records_a_suite_version_from_2_on_and_the_draw_does_not_depend_on_it(
        tiny_assets):
    """A suite v1 card has no ``suite_version`` (so v1 cards are as before); a later version is
    recorded. The version is a label: the same assets give the same pairs under either."""
    from mirrorpo.assets import load_suite_info, write_suite_info
    from mirrorpo.data.generate import load_suite_context, make_dataset
    from mirrorpo.data.presets import get_preset

    def draw():
        return make_dataset(load_suite_context("hopper"), get_preset("mixed"), num_pairs=8,
                            horizon=6, seed=3, start_episodes=2)

    v1 = draw()
    assert load_suite_info("hopper").version == 1 and "suite_version" not in v1.card
    raw = load_suite_info("hopper").raw
    write_suite_info("hopper", {**raw, "suite_version": 2}, tiny_assets)
    v2 = draw()
    assert v2.card["suite_version"] == 2 and load_suite_info("hopper").id == "hopper/v2"
    assert v2.fingerprint == v1.fingerprint
    assert {k: v for k, v in v2.card.items() if k != "suite_version"} == v1.card
