"""The log-likelihood-scale profile and calibration of mirrorpo.losses.scale."""

import math

import numpy as np
import pytest
import torch

from mirrorpo.losses.baselines import dpo
from mirrorpo.losses.scale import CalibratedLoss, at_reference, gradient_profile, margin_scale


def _batch(seed: int = 0, n: int = 64, scale: float = 30.0):
    rng = np.random.default_rng(seed)
    ref_w, ref_l = -scale * rng.random(n) - 5, -scale * rng.random(n) - 5
    lengths = rng.integers(5, 40, n).astype(float)
    return ref_w, ref_l, lengths


def test_margin_scale_is_the_median_absolute_reference_margin():
    assert margin_scale(np.array([-1.0, -10.0, -4.0]), np.array([-3.0, -4.0, -4.5])) == 2.0
    with pytest.raises(ValueError, match="positive median"):
        margin_scale(np.array([-1.0, -2.0]), np.array([-1.0, -2.0]))


def test_dpo_at_the_reference_pulls_every_pair_equally():
    ref_w, ref_l, lengths = _batch()
    prof = gradient_profile(lambda b: dpo(b, beta=0.1),
                            at_reference(ref_w, ref_l, lengths, lengths))
    assert prof["loss_mean"] == pytest.approx(math.log(2))
    assert prof["pull_median"] == pytest.approx(0.1)  # β σ(0) on each of the two responses
    assert prof["ess"] == pytest.approx(1.0)


def test_ess_falls_to_one_over_b_when_one_pair_carries_the_gradient():
    ref_w, ref_l, lengths = _batch(n=50)

    def one_pair(b):
        weight = torch.zeros(50, dtype=torch.float64)
        weight[7] = 1.0
        return -weight * b.policy_chosen_logps

    prof = gradient_profile(one_pair, at_reference(ref_w, ref_l, lengths, lengths))
    assert prof["ess"] == pytest.approx(1 / 50)
    assert prof["pull_max"] == pytest.approx(1.0) and prof["pull_median"] == 0.0


def test_calibrating_dpo_multiplies_its_beta():
    ref_w, ref_l, lengths = _batch(1)
    batch = at_reference(ref_w, ref_l, lengths, lengths)
    moved = batch._replace(policy_chosen_logps=batch.policy_chosen_logps.detach() + 0.7,
                           policy_rejected_logps=batch.policy_rejected_logps.detach() - 0.2)
    calibrated = CalibratedLoss(lambda b: dpo(b, beta=0.1), 3.0)(moved)
    torch.testing.assert_close(calibrated, dpo(moved, beta=0.3))
    torch.testing.assert_close(CalibratedLoss(lambda b: dpo(b, beta=0.1), 1.0)(moved),
                               dpo(moved, beta=0.1))


@pytest.mark.parametrize("factor", [0.0, -1.0, float("inf"), float("nan")])
def test_calibration_refuses_a_factor_that_is_not_positive_and_finite(factor):
    with pytest.raises(ValueError, match="positive and finite"):
        CalibratedLoss(lambda b: dpo(b, beta=0.1), factor)
