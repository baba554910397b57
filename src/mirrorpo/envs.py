"""The suite's environments: Gymnasium MuJoCo v5 tasks and their batched native twins.

Each :class:`EnvSpec` names a Gymnasium id with the keyword arguments the suite uses, and gives
pure NumPy functions for observation, reward and termination computed from simulator states, so
that :mod:`mirrorpo.rollout` can step many persistent simulators at once and get exactly the
numbers Gymnasium's ``step`` would give.

Deviations from Gymnasium defaults (documented in docs/concepts.md):

* ``Ant-v5`` uses ``include_cfrc_ext_in_observation=False`` and ``contact_cost_weight=0``:
  contact forces need ``mj_rnePostConstraint`` after every step, which batched stepping does
  not compute. The rest of the reward (forward, healthy, control) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

ENV_NAMES = ("hopper", "halfcheetah", "walker2d", "ant")
DEFAULT_ENV = "hopper"


@dataclass(frozen=True)
class EnvSpec:
    """A suite environment: its Gymnasium id, options, and vectorised physics read-outs."""

    name: str
    gym_id: str
    gym_kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int = 1000
    # Progress is measured on qpos[0], or (Ant) on this body's ``xpos``, which MuJoCo computes
    # before the last integration of a step, so it lags qpos by one physics substep.
    x_body: int | None = None
    segment_horizon: int = 100
    """Default preference-segment length H: long enough that the rational teacher separates
    the ladder levels from the reference's states (scripts/horizon_check.py, docs/suite.md)."""

    def make(self, **overrides: Any) -> gym.Env:
        """A plain Gymnasium environment with the suite's options (TimeLimit included)."""
        return gym.make(self.gym_id, **{**self.gym_kwargs, **overrides})

    @cached_property
    def probe(self) -> gym.Env:
        """One cached unwrapped env: its model, spaces and constants, and ``reset(seed=...)``
        draws of initial states (resetting it never touches the model)."""
        return self.make().unwrapped

    @property
    def obs_dim(self) -> int:
        return int(self.probe.observation_space.shape[0])

    @property
    def act_dim(self) -> int:
        return int(self.probe.action_space.shape[0])

    @property
    def action_low(self) -> np.ndarray:
        return np.asarray(self.probe.action_space.low, dtype=np.float64)

    @property
    def action_high(self) -> np.ndarray:
        return np.asarray(self.probe.action_space.high, dtype=np.float64)

    @property
    def frame_skip(self) -> int:
        return int(self.probe.frame_skip)

    @property
    def dt(self) -> float:
        return float(self.probe.dt)

    @property
    def model(self) -> mujoco.MjModel:
        return self.probe.model

    @property
    def nq(self) -> int:
        return int(self.model.nq)

    @property
    def nv(self) -> int:
        return int(self.model.nv)

    # ----- vectorised read-outs; qpos (n, nq), qvel (n, nv), action (n, act_dim) -----

    def observation(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Observation as Gymnasium builds it, for a batch of states. (n, obs_dim)"""
        return _OBSERVATIONS[self.name](self.probe, qpos, qvel)

    def reward_terminated(
        self,
        x_before: np.ndarray,
        x_after: np.ndarray,
        qpos: np.ndarray,
        qvel: np.ndarray,
        action: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-step reward and termination flag, as Gymnasium's ``step`` computes them.

        x_before/x_after (n,) are the progress coordinates around the step (see ``x_body``),
        qpos/qvel the state after it, action (n, act_dim) the action applied.
        """
        return _REWARDS[self.name](self.probe, x_before, x_after, qpos, qvel, action)


def _clip_vel(qvel: np.ndarray) -> np.ndarray:
    return np.clip(qvel, -10.0, 10.0)


def _obs_hopper_walker(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    return np.concatenate([qpos[:, 1:], _clip_vel(qvel)], axis=1)


def _obs_cheetah(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    return np.concatenate([qpos[:, 1:], qvel], axis=1)


def _obs_ant(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    return np.concatenate([qpos[:, 2:], qvel], axis=1)


def _healthy_hopper(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    z, angle = qpos[:, 1], qpos[:, 2]
    state = np.concatenate([qpos, qvel], axis=1)[:, 2:]
    lo_s, hi_s = env._healthy_state_range
    lo_z, hi_z = env._healthy_z_range
    lo_a, hi_a = env._healthy_angle_range
    ok_state = np.all((lo_s < state) & (state < hi_s), axis=1)
    return ok_state & (lo_z < z) & (z < hi_z) & (lo_a < angle) & (angle < hi_a)


def _healthy_walker(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    z, angle = qpos[:, 1], qpos[:, 2]
    lo_z, hi_z = env._healthy_z_range
    lo_a, hi_a = env._healthy_angle_range
    return (lo_z < z) & (z < hi_z) & (lo_a < angle) & (angle < hi_a)


def _healthy_ant(env: Any, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    state = np.concatenate([qpos, qvel], axis=1)
    lo_z, hi_z = env._healthy_z_range
    z = state[:, 2]
    return np.all(np.isfinite(state), axis=1) & (lo_z <= z) & (z <= hi_z)


def _locomotion_reward(
    healthy_fn: Callable[..., np.ndarray] | None,
) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """forward_w·Δx/dt + healthy_reward·healthy − ctrl_w·|a|² (+ termination when unhealthy)."""

    def reward(env: Any, x_before, x_after, qpos, qvel, action):
        # Same operation order as Gymnasium's _get_rew, so sums agree to the last bit.
        x_velocity = (x_after - x_before) / env.dt
        forward = env._forward_reward_weight * x_velocity
        ctrl_cost = env._ctrl_cost_weight * np.sum(np.square(action), axis=1)
        if healthy_fn is None:
            return forward - ctrl_cost, np.zeros(len(forward), dtype=bool)
        healthy = healthy_fn(env, qpos, qvel)
        rew = (forward + healthy * env._healthy_reward) - ctrl_cost  # v5: paid while healthy
        terminated = (~healthy) & bool(env._terminate_when_unhealthy)
        return rew, terminated

    return reward


_OBSERVATIONS = {
    "hopper": _obs_hopper_walker,
    "walker2d": _obs_hopper_walker,
    "halfcheetah": _obs_cheetah,
    "ant": _obs_ant,
}

_REWARDS = {
    "hopper": _locomotion_reward(_healthy_hopper),
    "walker2d": _locomotion_reward(_healthy_walker),
    "halfcheetah": _locomotion_reward(None),
    "ant": _locomotion_reward(_healthy_ant),
}

SPECS: dict[str, EnvSpec] = {
    # Hopper's levels differ in when they fall, not in speed: at H = 100 every level above
    # L0 earns the same segment return; at 300 stronger levels win 72–100% of comparisons.
    "hopper": EnvSpec("hopper", "Hopper-v5", segment_horizon=300),
    "halfcheetah": EnvSpec("halfcheetah", "HalfCheetah-v5"),
    "walker2d": EnvSpec("walker2d", "Walker2d-v5", segment_horizon=200),
    "ant": EnvSpec(
        "ant",
        "Ant-v5",
        {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0},
        x_body=1,
    ),
}


def get_spec(name: str) -> EnvSpec:
    """The suite's spec for ``name`` (case-insensitive; Gymnasium ids accepted too)."""
    key = name.lower().split("-")[0]
    if key not in SPECS:
        raise ValueError(f"unknown env {name!r}; choose one of {', '.join(ENV_NAMES)}")
    return SPECS[key]
