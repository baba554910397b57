"""Issue 17's faster trainer gives the same numbers, bit for bit, as the code before it
(benchmarks/population_before.py, a frozen copy): same parameters, loss curves and reference
log-likelihoods, with tanh and relu policies, variable-length segments and 1 or 2 threads."""

import importlib.util
import sys
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
    new = _train(after, ref, data, threads, dtype, chunk_rows=500)
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
