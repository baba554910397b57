"""Dataset generation: determinism, labels, card, and replay of stored segments."""

import re

import numpy as np
import pytest

from mirrorpo.api import make_dataset as make_api
from mirrorpo.config import ConfigError
from mirrorpo.data.dataset import CARD_FILE, PAIRS_FILE, load_dataset, save_dataset
from mirrorpo.data.generate import DataConfig, load_suite_context, make_dataset
from mirrorpo.data.presets import PRESETS, customise, get_preset, sample_levels
from mirrorpo.data.teacher import TeacherConfig
from mirrorpo.envs import get_spec


def context():
    return load_suite_context("hopper")


def small(preset="clean", seed=0, pairs=24, horizon=8):
    return make_dataset(context(), get_preset(preset), num_pairs=pairs, horizon=horizon,
                        seed=seed, start_episodes=4)


def test_same_seed_same_bytes(tiny_assets, tmp_path):
    for name in ("a", "b"):
        ds = small(seed=3)
        save_dataset(tmp_path / name, ds.arrays, ds.card)
    for f in (PAIRS_FILE, CARD_FILE):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    other = small(seed=4)
    assert not np.array_equal(other.arrays["chosen_actions"], ds.arrays["chosen_actions"])


def test_clean_labels_agree_with_true_returns(tiny_assets):
    ds = small("clean", pairs=40)
    assert ds.num_pairs == 40
    assert (ds.returns("chosen") > ds.returns("rejected")).all()
    assert ds.card["properties"]["label_agreement"] == 1.0


def test_noisy_labels_disagree_sometimes(tiny_assets):
    ds = small("noisy-40", pairs=200)
    agree = ds.card["properties"]["label_agreement"]
    assert 0.4 < agree < 0.8  # expected 0.6 with ε = 0.4


def test_card_counts_and_properties(tiny_assets):
    ds = small("mixed", pairs=30)
    p = ds.card["properties"]
    assert sum(p["count_per_level"]["chosen"]) == 30
    assert sum(p["count_per_level"]["rejected"]) == 30
    assert ds.card["preset"] == "mixed/v1"
    assert p["candidates"] >= 30
    assert p["mean_return_chosen"] == pytest.approx(ds.returns("chosen").mean())


def test_segments_replay_from_start_state_in_plain_gymnasium(tiny_assets, tmp_path):
    save_dataset(tmp_path / "d", *(lambda d: (d.arrays, d.card))(small(pairs=6, horizon=12)))
    ds = load_dataset(tmp_path / "d")
    spec = get_spec("hopper")
    a = ds.arrays
    for i in range(ds.num_pairs):
        for side in ("chosen", "rejected"):
            env = spec.make()
            env.reset(seed=0)
            env.unwrapped.set_state(a["start_qpos"][i], a["start_qvel"][i])
            length = int(a[f"{side}_length"][i])
            for t in range(length):
                obs = env.unwrapped._get_obs()
                np.testing.assert_allclose(obs, a[f"{side}_obs"][i, t], rtol=1e-6, atol=1e-6)
                _, r, term, _, _ = env.step(a[f"{side}_actions"][i, t].astype(np.float64))
                assert r == a[f"{side}_rewards"][i, t]
            assert term == a[f"{side}_terminated"][i]
            assert (a[f"{side}_rewards"][i, length:] == 0).all()


def test_level_mixes():
    rng = np.random.default_rng(0)
    a, b = sample_levels("uniform", 6, 60_000, rng)
    assert abs(np.bincount(a, minlength=6) / 60_000 - 1 / 6).max() < 0.01
    a, b = sample_levels("weak", 6, 60_000, rng)
    weak_share = np.mean((a < 3) & (b < 3))
    assert abs(weak_share - (0.7 + 0.3 * 0.25)) < 0.01


def test_presets_are_versioned_and_required_ones_exist():
    for name in ("clean", "noisy-10", "noisy-20", "noisy-30", "noisy-40", "stochastic",
                 "mixed", "small"):
        assert get_preset(name).id == f"{name}/v1"
    assert get_preset("noisy-30/v1") is PRESETS["noisy-30"]
    with pytest.raises(ValueError, match="not available"):
        get_preset("noisy-30/v9")
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("dirty")


# ----------------------------------------------------------------------------- custom teachers


def test_customise_builds_the_effective_recipe():
    clean = get_preset("clean")
    assert customise(clean) is clean
    # the preset's own values are no override: the preset itself, so the same bytes
    noisy = get_preset("noisy-10")
    assert customise(noisy, mistake_rate=0.1, temperature=0, myopic_discount=1,
                     equal_threshold=0, skip_threshold=float("-inf"),
                     level_mix="uniform") is noisy
    custom = customise(clean, mistake_rate=0.15, temperature=0.05, level_mix="weak")
    assert custom.id == "clean/v1+custom" and custom.base_id == "clean/v1"
    assert custom.teacher == TeacherConfig(temperature=0.05, mistake_rate=0.15)
    assert custom.level_mix == "weak" and custom.pairs == clean.pairs
    assert dict(custom.overrides) == {"temperature": 0.05, "mistake_rate": 0.15,
                                      "level_mix": "weak"}
    with pytest.raises(ValueError, match="mistake_rate"):
        customise(clean, mistake_rate=0.6)
    with pytest.raises(ValueError, match="unknown teacher setting"):
        customise(clean, flip_rate=0.1)
    with pytest.raises(ValueError, match="unknown level mix"):
        customise(clean, level_mix="strong")
    with pytest.raises(ValueError, match="custom recipe"):
        get_preset("clean/v1+custom")


@pytest.mark.parametrize("kwargs, needle", [
    ({"mistake_rate": 0.51}, "DataConfig.mistake_rate: must be ≤ 0.5"),
    ({"temperature": -1.0}, "DataConfig.temperature: must be ≥ 0"),
    ({"temperature": float("inf")}, "DataConfig.temperature: must be finite"),
    ({"myopic_discount": 0.0}, "DataConfig.myopic_discount: must be > 0"),
    ({"equal_threshold": -0.1}, "DataConfig.equal_threshold: must be ≥ 0"),
    ({"skip_threshold": float("nan")}, "DataConfig.skip_threshold: must be a number"),
    ({"level_mix": "strong"}, "DataConfig.level_mix: unknown value"),
])
def test_data_config_checks_teacher_overrides(kwargs, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        DataConfig(**kwargs)
    assert DataConfig(skip_threshold=-0.5).recipe.teacher.skip_threshold == -0.5


def test_preset_values_given_explicitly_give_the_same_bytes(tiny_assets, tmp_path):
    small_cfg = {"pairs": 24, "horizon": 8, "seed": 5}
    make_api(DataConfig(preset="noisy-20", **small_cfg), tmp_path / "plain")
    make_api(DataConfig(preset="noisy-20", mistake_rate=0.2, temperature=0.0,
                        myopic_discount=1.0, equal_threshold=0.0, level_mix="uniform",
                        **small_cfg), tmp_path / "explicit")
    for f in (PAIRS_FILE, CARD_FILE):
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "explicit" / f).read_bytes()
    assert "overrides" not in load_dataset(tmp_path / "plain").card


def test_overrides_reach_the_teacher_and_the_card(tiny_assets, tmp_path):
    ds = make_api(DataConfig(preset="clean", mistake_rate=0.5, pairs=400, horizon=8),
                  tmp_path / "d")
    card = load_dataset(tmp_path / "d").card
    assert card == ds.card
    assert card["preset"] == "clean/v1+custom"
    assert card["overrides"] == {"mistake_rate": 0.5}
    assert card["teacher"]["mistake_rate"] == 0.5 and card["level_mix"] == "uniform"
    assert 0.4 < card["properties"]["label_agreement"] < 0.6  # coin-flip labels
    weak = make_api(DataConfig(preset="clean", level_mix="weak", pairs=200, horizon=8))
    assert weak.card["overrides"] == {"level_mix": "weak"} and weak.card["level_mix"] == "weak"
    chosen = np.asarray(weak.card["properties"]["count_per_level"]["chosen"])
    assert chosen[:3].sum() > chosen[3:].sum()  # 70% of pairs from the weaker half


def test_noisy_presets_of_one_seed_share_pairs_and_flip_nested_sets(tiny_assets):
    """Common random numbers (docs/concepts.md): clean and noisy-x of one seed hold the same
    pairs, and the pairs noisy-10 flips are among those noisy-30 flips."""
    draws = {p: small(p, seed=2, pairs=300) for p in ("clean", "noisy-10", "noisy-30")}
    flipped = {}
    for p, ds in draws.items():
        a, ref = ds.arrays, draws["clean"].arrays
        np.testing.assert_array_equal(a["start_qpos"], ref["start_qpos"])
        flip = ds.returns("chosen") < ds.returns("rejected")
        # the same two segments, in the order the label gives
        for side, other in (("chosen", "rejected"), ("rejected", "chosen")):
            want = np.where(flip[:, None, None], ref[f"{other}_obs"], ref[f"{side}_obs"])
            np.testing.assert_array_equal(a[f"{side}_obs"], want)
        flipped[p] = flip
    assert not flipped["clean"].any()
    assert 0 < flipped["noisy-10"].sum() < flipped["noisy-30"].sum()
    assert not (flipped["noisy-10"] & ~flipped["noisy-30"]).any()  # nested
