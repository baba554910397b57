"""LLM preference pairs carry the preset's pathology, measured on their card."""

import numpy as np

from mirrorpo.llm.pairs import PRESETS, make_pairs, pair_card


def rewards(prompts=400, n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(prompts, n))


def test_clean_pairs_prefer_the_higher_reward():
    r = rewards()
    pairs = make_pairs(r, PRESETS["clean"], 0)
    assert len(pairs) == len(r)
    assert all(r[q["prompt"], q["chosen"]] > r[q["prompt"], q["rejected"]] for q in pairs)
    assert pair_card(r, pairs)["flip_rate"] == 0


def test_noisy_flips_about_a_fifth_and_only_those():
    r = rewards(2000)
    pairs = make_pairs(r, PRESETS["noisy-20"], 1)
    card = pair_card(r, pairs)
    assert 0.17 < card["flip_rate"] < 0.23
    for q in pairs:
        assert (r[q["prompt"], q["chosen"]] < r[q["prompt"], q["rejected"]]) == q["flipped"]


def test_mixed_chosen_are_often_weak():
    r = rewards(2000)
    clean = pair_card(r, make_pairs(r, PRESETS["clean"], 2))
    mixed = pair_card(r, make_pairs(r, PRESETS["mixed"], 2))
    assert mixed["chosen_below_median"] > clean["chosen_below_median"] + 0.25
    assert mixed["chosen_reward_mean"] < clean["chosen_reward_mean"]


def test_ties_are_skipped_and_seed_reproduces():
    r = np.zeros((5, 3))
    assert make_pairs(r, PRESETS["clean"], 0) == []
    x = rewards(50)
    assert make_pairs(x, PRESETS["mixed"], 3) == make_pairs(x, PRESETS["mixed"], 3)


def test_v2_redraws_tied_pairs_and_v1_is_unchanged():
    # rewards on a coarse grid, as the judge's (0 for neutral text, one floor for disfluent)
    r = np.random.default_rng(4).choice([-0.7, 0.0, 0.0, 0.5], size=(600, 4))
    all_tied = (r == r[:, :1]).all(1)
    for name, preset in PRESETS.items():
        skipped = make_pairs(r, preset, 5)
        redrawn = make_pairs(r, preset, 5, redraw_ties=True)
        assert len(skipped) < len(redrawn) == int((~all_tied).sum())  # a pair per usable prompt
        for q in redrawn:
            hi, lo = r[q["prompt"], q["chosen"]], r[q["prompt"], q["rejected"]]
            assert hi != lo and (hi < lo) == q["flipped"]
        if name == "mixed":  # the weak half keeps the lowest response as the rejected one
            weak = [q for q in redrawn if r[q["prompt"]].min() in
                    (r[q["prompt"], q["rejected"]], r[q["prompt"], q["chosen"]])]
            assert len(weak) > 0.5 * len(redrawn)
    # without ties the redraw never fires, and the pairs (and the random stream) are v1's
    x = rewards(50)
    for preset in PRESETS.values():
        assert make_pairs(x, preset, 3) == make_pairs(x, preset, 3, redraw_ties=True)
