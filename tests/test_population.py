"""Population-batched training equals training each member alone; failures stay local."""

import numpy as np
import torch

from mirrorpo.losses import get_loss
from mirrorpo.losses.mpo import MPOLoss, MPOParams
from mirrorpo.training.population import PopulationPolicy, TrainConfig, train_population
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


def test_packed_segment_logps_equal_masked_sum():
    from mirrorpo.training.population import SegmentTable, segment_logps

    ref = random_stack(11, 3, 2, hidden=(8,))
    data = tiny_data(n=6, h=5)
    pol = PopulationPolicy(ref, dtype=torch.float64)
    table = SegmentTable.from_arrays(data, torch.float64)
    segs = torch.tensor([[0, 7, 3], [11, 2, 2]])
    got = segment_logps(pol, table, segs, np.log(0.01))
    both = {k: np.concatenate([data[f"chosen_{k}"], data[f"rejected_{k}"]])
            for k in ("obs", "actions", "length")}
    for m in range(2):
        for j, sid in enumerate(segs[m].tolist()):
            n = both["length"][sid]
            obs = torch.as_tensor(both["obs"][sid, :n])[None]
            act = torch.as_tensor(both["actions"][sid, :n])[None]
            one = PopulationPolicy(ref.select([m]), dtype=torch.float64)
            step = (one.log_density(obs, act)[0] + 3 * np.log(0.01)).clamp(max=-1e-8)
            torch.testing.assert_close(got[m, j], step.sum(), rtol=1e-12, atol=1e-9)




def test_snapshots_equal_shorter_runs():
    ref = random_stack(11, 3, 1, hidden=(8,))
    data = tiny_data()
    cfg = TrainConfig(**{**CFG.__dict__, "snapshot_steps": (4, 15)})
    run = train_population(ref, data, LOSSES[:2], [0, 1], cfg, dtype=torch.float64)
    short = train_population(ref, data, LOSSES[:2], [0, 1],
                             TrainConfig(**{**CFG.__dict__, "steps": 4}), dtype=torch.float64)
    assert sorted(run.snapshots) == [4, 15]
    for a, b in zip(run.snapshots[4].weights, short.policy.to_stack().weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in zip(run.snapshots[15].weights, run.policy.to_stack().weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_population_mean_action_equals_policy_stack():
    for activation in ("tanh", "relu"):
        ref = random_stack(11, 3, 3, hidden=(16, 8))
        ref = ref.__class__(**{**ref.__dict__, "activation": activation})
        obs = np.random.default_rng(1).normal(size=(3, 50, 11)) * 3
        pol = PopulationPolicy(ref, dtype=torch.float64)
        got = pol.mean_action(torch.as_tensor(obs)).detach().numpy()
        np.testing.assert_allclose(got, ref.mean_action(obs), rtol=1e-9, atol=1e-11)
        part = pol.mean_action(torch.as_tensor(obs[1:]), slice(1, 3)).detach().numpy()
        np.testing.assert_allclose(part, got[1:], rtol=1e-12, atol=1e-13)


def test_member_result_is_bit_identical_whatever_shares_its_batch():
    """float32, variable-length segments, one thread: a member's weights do not depend on the
    other members of its population (their seeds, losses or number), bit for bit, so sharded
    and in-process fitness agree exactly (mirrorpo.discovery.fitness). With several threads torch
    may split a lone member's GEMM reductions across them, which changes the rounding."""
    ref = random_stack(11, 3, 1, hidden=(64, 64))
    data = tiny_data(n=64, h=40)
    cfg = TrainConfig(steps=30, batch_pairs=8, learning_rate=1e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = train_population(ref, data, [LOSSES[2]], [7], cfg)
        crowd = train_population(ref, data, [LOSSES[0]] * 3 + [LOSSES[2]] + [LOSSES[1]] * 2,
                                 [0, 1, 2, 7, 3, 4], cfg)
        # other MPO losses share its stacked loss call (TrainConfig.stack_losses), before and
        # after it, in stacks of several sizes
        others = [MPOLoss("mpo", MPOParams(beta=0.05 * k, w_logodds=0.1 * k, lam_sigmoid=0.2))
                  for k in range(1, 7)]
        stacked = train_population(ref, data, [*others[:5], LOSSES[2], others[5]],
                                   [0, 1, 2, 3, 4, 7, 5], cfg)
    finally:
        torch.set_num_threads(threads)
    for a, b, c in zip(params_of(alone.policy, 0), params_of(crowd.policy, 3),
                       params_of(stacked.policy, 5), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
