"""Dataset generation: determinism, labels, card, and replay of stored segments."""

import numpy as np
import pytest

from mirrorpo.data.dataset import CARD_FILE, PAIRS_FILE, load_dataset, save_dataset
from mirrorpo.data.generate import load_suite_context, make_dataset
from mirrorpo.data.presets import PRESETS, get_preset, sample_levels
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
