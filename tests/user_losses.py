"""A user-defined loss module, importable as ``tests.user_losses`` (pytest's pythonpath is the
repository root), for the ``package.module:function`` loss specs of the tests."""

import torch


def margin_loss(batch, beta: float = 0.1):
    """DPO written by hand: −log σ(β · margin)."""
    return -torch.nn.functional.logsigmoid(beta * batch.margin)
