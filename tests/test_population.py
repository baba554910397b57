"""Population-batched training equals training each member alone; failures stay local."""

import numpy as np
import torch

from mirrorpo.losses import get_loss
from mirrorpo.losses.mpo import MPOLoss, MPOParams
from mirrorpo.train.population import PopulationPolicy, TrainConfig, train_population
from tests.conftest import random_stack


def tiny_data(n=32, h=5, o=11, a=3, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for side in ("chosen", "rejected"):
        out[f"{side}_obs"] = rng.normal(size=(n, h, o)).astype(np.float32)
        out[f"{side}_actions"] = rng.uniform(-1, 1, size=(n, h, a)).astype(np.float32)
        out[f"{side}_length"] = rng.integers(1, h + 1, n).astype(np.int32)
    return out


LOSSES = [
    lambda b: get_loss("dpo")(b, beta=0.5),
    lambda b: get_loss("orpo")(b),
    MPOLoss("ta-mpo", MPOParams(alpha0=1.0, alpha1=0.0, w_exp=0.3, lam_hinge=0.2)),
]
CFG = TrainConfig(steps=15, batch_pairs=8, learning_rate=1e-2, max_grad_norm=0.5, log_every=5)


def params_of(policy, member):
    return [p.detach()[member] for p in policy.parameters()]


def test_population_matches_members_trained_alone():
    ref = random_stack(11, 3, 1, hidden=(8,))
    data = tiny_data()
    seeds = [0, 1, 2]
    pop = train_population(ref, data, LOSSES, seeds, CFG, dtype=torch.float64)
    assert not pop.failed.any()
    for m in range(3):
        alone = train_population(ref, data, [LOSSES[m]], [seeds[m]], CFG, dtype=torch.float64)
        for a, b in zip(params_of(pop.policy, m), params_of(alone.policy, 0), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    # members moved away from the reference, and logs have one row per logged step
    start = PopulationPolicy(ref, dtype=torch.float64)
    assert not torch.allclose(pop.policy.weights[0][0], start.weights[0][0])
    assert len(pop.log.steps) == len(pop.log.loss) == 4
    assert pop.log.reward_margin[-1].shape == (3,)


def test_non_finite_member_is_marked_failed_and_frozen():
    calls = {"n": 0}

    def explodes(b):
        calls["n"] += 1
        loss = get_loss("dpo")(b)
        return loss * float("nan") if calls["n"] > 3 else loss

    ref = random_stack(11, 3, 1, hidden=(8,))
    data = tiny_data()
    pop = train_population(ref, data, [LOSSES[0], explodes], [0, 1], CFG, dtype=torch.float64)
    assert pop.failed.tolist() == [False, True]
    assert pop.fail_reason[1] == "non-finite loss at step 3"
    healthy = train_population(ref, data, [LOSSES[0]], [0], CFG, dtype=torch.float64)
    for a, b in zip(params_of(pop.policy, 0), params_of(healthy.policy, 0), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    three = TrainConfig(**{**CFG.__dict__, "steps": 3})
    before = train_population(ref, data, [lambda b: get_loss("dpo")(b)], [1], three,
                              dtype=torch.float64)
    for a, b in zip(params_of(pop.policy, 1), params_of(before.policy, 0), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
        assert torch.isfinite(a).all()


def test_to_stack_round_trip():
    ref = random_stack(11, 3, 2, hidden=(8, 8))
    pol = PopulationPolicy(ref, dtype=torch.float64)
    back = pol.to_stack()
    obs = np.random.default_rng(0).normal(size=(2, 4, 11))
    np.testing.assert_allclose(back.mean_action(obs), ref.mean_action(obs))
    zeros = torch.zeros(2, 4, 3, dtype=torch.float64)
    got = pol.log_density(torch.as_tensor(obs), zeros).detach().numpy()
    np.testing.assert_allclose(got, ref.log_prob(obs, np.zeros((2, 4, 3))))
