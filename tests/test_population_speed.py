"""Issue 17's faster trainer with padded rows gives the same numbers, bit for bit, as the code
before it (benchmarks/population_before.py, a frozen copy): same parameters, loss curves and
reference log-likelihoods, with tanh and relu policies, variable-length segments and 1 or 2
threads. Its default, the valid rows only, computes the same function (float64 to 1e-12,
gradcheck) with other rounding, and keeps each member's numbers independent of the members
that share its batch."""

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mirrorpo.losses.mpo import MPOLoss, MPOParams
from mirrorpo.training import population as after
from tests.conftest import random_stack
from tests.test_population import LOSSES, tiny_data

_spec = importlib.util.spec_from_file_location(
    "population_before", Path(__file__).parents[1] / "benchmarks" / "population_before.py")
before = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("population_before", before)  # dataclasses look their module up
_spec.loader.exec_module(before)

MIXED = [*LOSSES, MPOLoss("mpo", MPOParams(w_logodds=0.3, lam_exp=0.2, anchor_sigmoid=0.5)),
         MPOLoss("mpo", MPOParams(length_power=1.0, w_sp1=0.5, lam_sigmoid=0.4, alpha0=0.2))]


def _train(module, ref, data, threads, dtype, **cfg):
    n = len(MIXED)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return module.train_population(
            ref, data, MIXED, list(range(n)),
            module.TrainConfig(steps=12, batch_pairs=4, learning_rate=1e-2, log_every=1, **cfg),
            dtype=dtype)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trainer_is_bit_identical_to_before(activation, threads, dtype):
    ref = random_stack(11, 3, 1, hidden=(32, 16), seed=4)
    ref = ref.__class__(**{**ref.__dict__, "activation": activation})
    data = tiny_data(n=40, h=30, seed=2)
    # chunk_rows small enough that members run in several chunks (2·4·30 rows per member)
    old = _train(before, ref, data, threads, dtype, chunk_rows=500)
    new = _train(after, ref, data, threads, dtype, chunk_rows=500, skip_padding=False,
                 stack_losses=False)
    assert old.failed.tolist() == new.failed.tolist()
    for a, b in zip(old.policy.parameters(), new.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    for key in after.LOG_KEYS:
        for a, b in zip(getattr(old.log, key), getattr(new.log, key), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=key)


def test_reference_logps_skip_padding_bit_identical():
    ref = random_stack(11, 3, 1, hidden=(64, 64), seed=5)
    data = tiny_data(n=300, h=50, seed=3)
    table = after.SegmentTable.from_arrays(data, torch.float32)
    log_res = float(np.log(0.01))
    for chunk in (7, 2048):
        want = before.reference_logps(ref, table, log_res, torch.float32, chunk=chunk)
        got = after.reference_logps(ref, table, log_res, torch.float32, chunk=chunk)
        assert torch.equal(want, got)


def test_threads_context_restores_the_thread_count():
    n = torch.get_num_threads()
    with after._threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_valid_rows_compute_the_padded_function(activation):
    ref = random_stack(11, 3, 1, hidden=(32, 16), seed=4)
    ref = ref.__class__(**{**ref.__dict__, "activation": activation})
    data = tiny_data(n=40, h=30, seed=2)
    padded = _train(after, ref, data, 1, torch.float64, chunk_rows=500, skip_padding=False)
    valid = _train(after, ref, data, 1, torch.float64, chunk_rows=500, skip_padding=True)
    for a, b in zip(padded.policy.parameters(), valid.policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    f32 = _train(after, ref, data, 1, torch.float32, chunk_rows=500, skip_padding=True)
    moved = max(float((a - r).detach().abs().max()) for a, r in
                zip(valid.policy.parameters(), after.PopulationPolicy(
                    ref.repeat(len(MIXED)), torch.float64).parameters(), strict=True))
    worst = max(float((a - b).detach().abs().max()) for a, b in
                zip(valid.policy.parameters(), f32.policy.parameters(), strict=True))
    assert worst < 1e-4 * max(moved, 1.0)  # float32 rounding only, not a different function


def test_valid_rows_gradients_pass_gradcheck():
    """The hand-written backward of _RowLinear and _RowGaussian against finite differences."""
    ref = random_stack(11, 3, 1, hidden=(8, 8), seed=1)
    table = after.SegmentTable.from_arrays(tiny_data(n=6, h=5, seed=1), torch.float64)
    policy = after.PopulationPolicy(ref.repeat(3), dtype=torch.float64)
    inputs = policy.normalize(table.obs[None], slice(0, 1))[0].detach()
    segments = torch.tensor([[0, 7, 3], [1, 1, 11], [4, 5, 6]])
    assert [n for n, _ in policy.named_parameters()][0] == "log_std"

    def logps(*values):
        return after.valid_segment_logps(_Params(policy, list(values)), table, segments,
                                         float(np.log(0.01)), slice(None), inputs)

    values = [p.detach().clone().requires_grad_() for p in policy.parameters()]
    assert torch.autograd.gradcheck(logps, values, eps=1e-6, atol=1e-6)


class _Params:
    """A stand-in for PopulationPolicy whose parameters are given tensors (autograd leaves
    that gradcheck perturbs): valid_segment_logps reads weights, biases, log_std and
    activation only, through PopulationPolicy.mlp."""

    mlp = after.PopulationPolicy.mlp

    def __init__(self, policy, values):
        n = len(policy.weights)  # parameters() order: log_std, weights, biases
        self.log_std, self.activation = values[0], policy.activation
        self.weights, self.biases = values[1:n + 1], values[n + 1:]


@pytest.mark.parametrize("threads", [1, 2])
def test_valid_rows_member_does_not_depend_on_its_batch(threads):
    """float32: a member trained alone equals, bit for bit, the same member in a population
    (other members' step counts set the packed width W)."""
    ref = random_stack(11, 3, 1, hidden=(32, 16), seed=4)
    data = tiny_data(n=40, h=30, seed=2)
    together = _train(after, ref, data, threads, torch.float32)
    for m in (0, 3):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            alone = after.train_population(
                ref, data, [MIXED[m]], [m], after.TrainConfig(
                    steps=12, batch_pairs=4, learning_rate=1e-2, log_every=1),
                dtype=torch.float32)
        finally:
            torch.set_num_threads(old)
        for a, b in zip(together.policy.parameters(), alone.policy.parameters(), strict=True):
            assert torch.equal(a[m], b[0])


def test_valid_rows_do_not_depend_on_the_thread_count():
    """float32, Hopper-sized rows (64 units, segments up to 300 steps): one and two torch
    threads train the same weights bit for bit, so Ray workers (one thread each) and a
    two-thread process agree. The per-member reductions of the valid-rows backward run on one
    thread (torch splits a long reduction between threads, which changes its rounding)."""
    ref = random_stack(11, 3, 1, hidden=(64, 64), seed=5)
    data = tiny_data(n=24, h=300, seed=3)
    runs = [_train(after, ref, data, threads, torch.float32) for threads in (1, 2)]
    for a, b in zip(runs[0].policy.parameters(), runs[1].policy.parameters(), strict=True):
        assert torch.equal(a, b)


STACK = [*MIXED, *(MPOLoss("ta-mpo", MPOParams(beta=0.05 * (i + 1), length_power=0.3 * i,
                                              w_exp=0.2 * i, lam_hinge=0.1 * (i % 2),
                                              anchor_square=0.1 * (i % 3), alpha_half=0.3))
                   for i in range(4))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stacked_mpo_losses_train_the_same_members(dtype):
    """TrainConfig.stack_losses (the default) evaluates a chunk's different MPO/TA-MPO losses
    in one call: the same training to rounding (float64 1e-10; float32 within its rounding
    of the moved distance), and the members of other losses bit for bit."""
    ref = random_stack(11, 3, 1, hidden=(32, 16), seed=4)
    data = tiny_data(n=40, h=30, seed=2)
    cfg = after.TrainConfig(steps=12, batch_pairs=4, learning_rate=1e-2, log_every=1)
    runs = {stack: after.train_population(ref, data, STACK, list(range(len(STACK))),
                                          replace(cfg, stack_losses=stack), dtype=dtype)
            for stack in (False, True)}
    start = after.PopulationPolicy(ref.repeat(len(STACK)), dtype).parameters()
    moved = max(float((a - r).detach().abs().max()) for a, r in
                zip(runs[False].policy.parameters(), start, strict=True))
    tol = 1e-10 if dtype == torch.float64 else 1e-4 * max(moved, 1.0)
    others = [m for m, fn in enumerate(STACK) if not isinstance(fn, MPOLoss)]
    for a, b in zip(runs[False].policy.parameters(), runs[True].policy.parameters(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=tol)
        assert torch.equal(a[others], b[others])
    assert moved > 10 * tol


def test_configs_saved_before_stacking_call_each_loss_alone():
    raw = after.TrainConfig().to_json()
    assert raw["stack_losses"] is True
    del raw["stack_losses"]
    assert after.TrainConfig.from_json(raw).stack_losses is False
