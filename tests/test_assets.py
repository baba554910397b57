"""The shipped suite assets: every env has a measured ladder and a reference that fit it."""

import numpy as np
import pytest

from mirrorpo.assets import asset_dir, load_ladder, load_reference, load_suite_info
from mirrorpo.envs import ENV_NAMES, get_spec
from mirrorpo.policies import policy_digest


@pytest.fixture(autouse=True)
def shipped_assets(monkeypatch):
    monkeypatch.delenv("MIRRORPO_ASSETS", raising=False)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_shipped_ladder_and_reference(env):
    assert (asset_dir(env) / "suite.json").is_file(), f"no shipped assets for {env}"
    spec = get_spec(env)
    info = load_suite_info(env)
    ladder = load_ladder(env)
    ref = load_reference(env)
    assert ladder.size == info.num_levels >= 5
    assert (ladder.obs_dim, ladder.act_dim) == (ref.obs_dim, ref.act_dim) == (
        spec.obs_dim, spec.act_dim)
    scores = np.array([lv["score"] for lv in info.ladder])
    assert (np.diff(scores) > 0).all(), "ladder levels must be graded"
    assert scores[-1] == pytest.approx(100.0)
    assert info.expert_return > info.random_return
    assert info.reference is not None and "score_sampled" in info.reference
    assert 0 <= info.reference["demonstrator_level"] < ladder.size
    assert policy_digest(ladder) != policy_digest(ref)


SUITE_VERSIONS = {"hopper": 1, "halfcheetah": 2, "walker2d": 1, "ant": 1}
"""The shipped suite version of each env (docs/suite.md, "Suite versions")."""


@pytest.mark.parametrize("env", ENV_NAMES)
def test_shipped_suite_version(env):
    info = load_suite_info(env)
    assert info.version == SUITE_VERSIONS[env]
    assert info.id == f"{info.env}/v{SUITE_VERSIONS[env]}"


@pytest.mark.parametrize("env", [e for e in ENV_NAMES if SUITE_VERSIONS[e] >= 2])
def test_rebuilt_ladders_hold_training_checkpoints_only(env):
    """From suite v2 on, no rung is a noise-injected copy ('+std'): imitating its segments
    would teach the expert's mean plus noise."""
    info = load_suite_info(env)
    assert all("+std" not in lv["source"] for lv in info.ladder)
    assert all("+std" not in c["source"] for c in info.raw["screening"])
    assert info.raw["measurement"]["noise_stds"] == []


@pytest.mark.parametrize("env", ENV_NAMES)
def test_reference_leaves_headroom_below_the_top_rungs(env):
    """π_ref, sampled or mean actions, scores below the second-best rung, which is at least
    10 points below: PO has two rungs of better behaviour above its start."""
    info = load_suite_info(env)
    ref = info.reference
    assert ref is not None and "stale" not in ref
    second = info.ladder[-2]["score"]
    assert ref["score_sampled"] < second - 10
    assert ref["score_mean_action"] < second - 10
