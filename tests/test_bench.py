"""Benchmark protocol pieces: sweep grids, choosing on validation, rliable row statistics."""

import numpy as np
import pytest

from mirrorpo.benchmark import (
    REFERENCE,
    BenchConfig,
    Member,
    RowStats,
    meta_test_verdicts,
    pick_best,
    row_stats,
    sweep_specs,
)
from mirrorpo.losses import LOSSES
from mirrorpo.stats import iqm
from mirrorpo.training.population import TrainConfig


def test_sweep_specs_cover_the_grid_and_keep_given_settings():
    assert sweep_specs("dpo") == ["dpo:beta=0.01", "dpo:beta=0.1", "dpo:beta=1"]
    assert sweep_specs("sft") == ["sft"]
    assert sweep_specs("dpo:beta=0.3") == ["dpo:beta=0.3"]
    for name, spec in LOSSES.items():
        if spec.main_hparam:
            assert spec.defaults[spec.main_hparam] in spec.sweep, name
            assert len(spec.sweep) >= 3, name


def member(loss, spec, seed, score):
    return Member(loss, spec, seed, not np.isfinite(score), None, score, score, {}, {}, [])


def test_pick_best_uses_mean_over_seeds_and_failures_lose():
    ms = [member("dpo", "dpo:beta=0.01", 0, 90.0), member("dpo", "dpo:beta=0.01", 1, -np.inf),
          member("dpo", "dpo:beta=0.1", 0, 40.0), member("dpo", "dpo:beta=0.1", 1, 45.0),
          member("sft", "sft", 0, 10.0)]
    assert pick_best(ms) == {"dpo": "dpo:beta=0.1", "sft": "sft"}


def test_row_stats_point_estimates_and_cis():
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, size=(8, 1))
    st = row_stats(x, x + 1)
    assert st.mean == pytest.approx(x.mean())
    assert st.iqm == pytest.approx(float(iqm(x[:, 0])))
    assert st.mean_ci[0] < st.mean < st.mean_ci[1]
    assert st.iqm_ci[0] <= st.iqm <= st.iqm_ci[1]
    assert st.mean_action == pytest.approx(x.mean() + 1)
    assert (st.runs, st.failed) == (8, 0)
    # the CI narrows with more runs of the same spread
    wide = row_stats(x[:3], x[:3])
    assert wide.mean_ci[1] - wide.mean_ci[0] > st.mean_ci[1] - st.mean_ci[0]


def test_row_stats_counts_failures_as_zero():
    st = row_stats(np.array([[10.0], [-np.inf]]), np.array([[10.0], [-np.inf]]))
    assert st.failed == 1 and st.mean == pytest.approx(5.0)


def test_stratified_over_presets():
    # two presets with very different levels: stratification keeps each preset in every
    # resample, so the CI of the mean stays tight around the grand mean
    x = np.stack([np.full(6, 10.0), np.full(6, 90.0)], axis=1)
    st = row_stats(x, x)
    assert st.mean == pytest.approx(50.0) and st.mean_ci == pytest.approx((50.0, 50.0))


def test_curve_steps():
    cfg = BenchConfig(env="hopper", presets=("clean",), losses=("dpo",),
                      train=TrainConfig(steps=1000))
    assert cfg.curve_steps == (125, 250, 500, 1000)


def _row(mean, lo, hi):
    return RowStats(mean, (lo, hi), mean, (lo, hi), float("nan"), 10, 0), "spec"


@pytest.mark.parametrize("ours,verdict", [((70, 66, 74), "win"), ((60, 55, 66), "tie"),
                                          ((40, 35, 50), "loss")])
def test_meta_test_verdict_against_the_best_baseline_by_test_mean(ours, verdict):
    tables = {"mixed": {REFERENCE: _row(50, 49, 51), "dpo": _row(52, 45, 58),
                        "nca": _row(61, 57, 64.9), "mpo:x": _row(*ours)}}
    (v,) = meta_test_verdicts(tables, ["mpo:x"])
    assert v["baseline"] == "nca" and v["verdict"].startswith(verdict)
    assert v["reference_mean"] == 50


def test_bench_config_json_round_trip():
    cfg = BenchConfig("hopper", ("clean",), ("dpo", "a/b.json"), seeds=3,
                      train=TrainConfig(steps=7, snapshot_steps=(2, 4)))
    assert BenchConfig.from_json(cfg.to_json()) == cfg


def test_merge_units_unions_members_and_reference_seeds():
    from mirrorpo.benchmark import merge_units

    def member(loss, seed, score):
        return {"loss": loss, "spec": loss, "seed": seed, "score": score}

    a = {"members": [member("dpo", 0, 1.0), member("dpo", 1, 2.0)], "reference": [5.0, 6.0],
         "reference_mean_action": [7.0, 8.0]}
    b = {"members": [member("dpo", 1, 9.0), member("dpo", 2, 3.0)],
         "reference": [0.0, 0.0, 4.0]}
    merged = merge_units([None, a, b])
    assert [m["score"] for m in merged["members"]] == [1.0, 2.0, 3.0]  # the first unit wins
    assert merged["reference"] == [5.0, 6.0, 4.0]
    assert merged["reference_mean_action"][:2] == [7.0, 8.0]
    assert merge_units([None]) is None


# ----------------------------------------------------------------------------- seed layout


def test_protocol_2_scores_each_seed_on_its_own_episodes_and_old_configs_stay_protocol_1():
    from mirrorpo.benchmark import TEST_EVAL_SEED, VAL_EVAL_SEED, VAL_SEED_BASE, same_protocol

    cfg = BenchConfig("hopper", ("clean",), ("dpo",), episodes=10)
    assert cfg.protocol == 2 and cfg.to_json()["protocol"] == 2
    test = cfg.eval_seeds(TEST_EVAL_SEED, 0)
    assert [test(s) for s in range(3)] == [500000, 500010, 500020]
    val = cfg.eval_seeds(VAL_EVAL_SEED, VAL_SEED_BASE)
    assert [val(VAL_SEED_BASE + k) for k in range(2)] == [400000, 400010]
    legacy = {k: v for k, v in cfg.to_json().items() if k != "protocol"}  # saved before it
    old = BenchConfig.from_json(legacy)
    assert old.protocol == 1 and old.to_json() == legacy
    assert [old.eval_seeds(TEST_EVAL_SEED, 0)(s) for s in range(3)] == [500000, 500001, 500002]
    assert not same_protocol(old, cfg) and same_protocol(cfg, BenchConfig.from_json(cfg.to_json()))


def test_phase_reset_seeds_are_disjoint_and_too_many_are_refused():
    from mirrorpo.benchmark import TEST_EVAL_SEED, VAL_EVAL_SEED, VAL_SEED_BASE
    from mirrorpo.config import ConfigError
    from mirrorpo.discovery.fitness import FITNESS_EVAL_SEED, FITNESS_SEED_BASE, fitness_seeds
    from mirrorpo.protocol import eval_seed

    for k, n_val, n_test, gens, n_fit in ((10, 2, 10, 50, 4), (100, 10, 30, 200, 8)):
        def resets(base, seeds, first, k=k):
            return {eval_seed(base, s, first, k) + j for s in seeds for j in range(k)}

        val = resets(VAL_EVAL_SEED, range(VAL_SEED_BASE, VAL_SEED_BASE + n_val), VAL_SEED_BASE)
        test = resets(TEST_EVAL_SEED, range(n_test), 0)
        fit = resets(FITNESS_EVAL_SEED, {s for g in range(gens)
                                         for s in fitness_seeds(n_fit, g, reseed=True)},
                     FITNESS_SEED_BASE)
        assert len(val) == n_val * k and len(test) == n_test * k  # no overlap within a phase
        assert len(fit) == gens * n_fit * k
        assert not (val & test) and not (val & fit) and not (test & fit)
    with pytest.raises(ConfigError, match=r"BenchConfig\.seeds: seeds × episodes must be ≤"):
        BenchConfig(seeds=1000, episodes=201)
    with pytest.raises(ConfigError, match=r"BenchConfig\.val_seeds"):
        BenchConfig(val_seeds=1000, episodes=101)
    with pytest.raises(ConfigError, match=r"BenchConfig\.seeds"):
        BenchConfig(seeds=1001)  # would reach the validation seeds (1000+)
