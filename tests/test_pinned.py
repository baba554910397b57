"""Pinned 20-step training trajectories: the current code reproduces the per-step loss curves
and final parameters recorded in tests/data/pinned_trajectories.json.

The JSON was written once by tests/make_pinned.py with the code from before the library-API
refactor (its ``generated_by`` says which), so these tests show the refactor kept the numbers.
Regenerate it only on purpose (a deliberate change of the training numerics), and say so in
``--generated-by``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.make_pinned import LOSSES, OUT, SEEDS, STEPS, TRAIN, trajectory

RTOL = 1e-6
"""float32 on one thread is bit-reproducible on one machine; the tolerance allows for another
CPU's rounding over 20 steps."""

PINNED = json.loads(Path(OUT).read_text())


def test_pinned_file_matches_its_generator():
    assert PINNED["generated_by"]
    assert PINNED["train"] == TRAIN and PINNED["seeds"] == list(SEEDS)
    assert sorted(PINNED["losses"]) == sorted(LOSSES)
    for traj in PINNED["losses"].values():
        assert traj["log_steps"] == list(range(STEPS))
        for member in traj["members"].values():
            assert not member["failed"] and len(member["loss"]) == STEPS


@pytest.mark.parametrize("name", LOSSES)
def test_trajectory_matches_pinned(name):
    """The arithmetic of the pinned code (padded rows, each loss called alone), to RTOL."""
    check_trajectory(name, trajectory(name, skip_padding=False, stack_losses=False), RTOL)


@pytest.mark.parametrize("name", LOSSES)
def test_valid_rows_trajectory_stays_near_pinned(name):
    """The default trainer runs the valid rows only and rounds its reductions differently
    (population.valid_segment_logps), and evaluates MPO losses stacked (mpo_loss_stacked):
    20 steps stay within 1e-4 of the pinned numbers."""
    check_trajectory(name, trajectory(name), 1e-4)


def check_trajectory(name: str, got: dict, rtol: float) -> None:
    want = PINNED["losses"][name]
    assert got["log_steps"] == want["log_steps"]
    for member, w in want["members"].items():
        g = got["members"][member]
        assert g["failed"] == w["failed"]
        np.testing.assert_allclose(g["loss"], w["loss"], rtol=rtol, atol=1e-7,
                                   err_msg=f"{name} {member}: loss curve")
        np.testing.assert_allclose(g["reward_margin"], w["reward_margin"], rtol=rtol, atol=1e-6,
                                   err_msg=f"{name} {member}: reward-margin curve")
        for key in ("param_sum", "param_abs_sum"):
            np.testing.assert_allclose(g[key], w[key], rtol=rtol,
                                       err_msg=f"{name} {member}: {key} of the final parameters")
        # the curve moved: a regression would show, not a flat line matching a flat line
        assert w["loss"][-1] != w["loss"][0]
