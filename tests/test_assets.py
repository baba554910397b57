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
