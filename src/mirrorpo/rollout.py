"""Batched closed-loop rollouts: many MuJoCo simulators stepped natively, one policy call a step.

Each environment copy is a persistent ``mujoco.MjData`` stepped with ``mj_step`` (which releases
the GIL) by a small thread pool, exactly as Gymnasium's ``do_simulation`` steps it — including
the solver warm-start carried between steps — so returns are bit-identical to a plain Gymnasium
loop with the same seeds and actions, while observation, reward and termination are computed once
for the whole batch in NumPy (:mod:`mirrorpo.envs`).

Written by hand because no maintained library does closed-loop batched CPU stepping of the
Gymnasium MuJoCo tasks with identical numerics (``mujoco.rollout`` is open-loop and restarts the
warm-start on every call; MJX/Brax need an accelerator and change the numerics).

A *restorable start state* is ``(qpos, qvel)``: restoring it means ``mj_resetData``, writing
qpos/qvel and ``mj_forward`` — what ``env.reset()`` followed by ``env.set_state`` does on a
fresh Gymnasium environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import mujoco
import numpy as np

from mirrorpo.envs import EnvSpec

# actor(obs (M, obs_dim), noise (M, act_dim)) -> actions (M, act_dim), before clipping
Actor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def default_threads() -> int:
    import os

    return max(1, min(2, os.cpu_count() or 1))


class BatchedSim:
    """``n`` copies of one MuJoCo task, stepped in parallel threads."""

    def __init__(self, spec: EnvSpec, n: int, nthread: int | None = None):
        self.spec = spec
        self.model = spec.model
        self.n = n
        self.datas = [mujoco.MjData(self.model) for _ in range(n)]
        self.frame_skip = spec.frame_skip
        self.nthread = nthread or default_threads()
        self._pool = ThreadPoolExecutor(self.nthread) if self.nthread > 1 else None
        self.qpos = np.zeros((n, spec.nq))
        self.qvel = np.zeros((n, spec.nv))
        self.x = np.zeros(n)

    def grow(self, n: int) -> None:
        """Have at least ``n`` copies (new copies are fresh; existing ones are kept)."""
        if n <= self.n:
            return
        self.datas += [mujoco.MjData(self.model) for _ in range(n - self.n)]
        pad = ((0, n - self.n), (0, 0))
        self.qpos, self.qvel = np.pad(self.qpos, pad), np.pad(self.qvel, pad)
        self.x = np.pad(self.x, (0, n - self.n))
        self.n = n

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> BatchedSim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _x_of(self, d: mujoco.MjData) -> float:
        body = self.spec.x_body
        return float(d.qpos[0]) if body is None else float(d.xpos[body, 0])

    def restore(self, idx: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Put copies ``idx`` into the given start states (see module docstring)."""
        for j, i in enumerate(idx):
            d = self.datas[i]
            mujoco.mj_resetData(self.model, d)
            d.qpos[:] = qpos[j]
            d.qvel[:] = qvel[j]
            mujoco.mj_forward(self.model, d)
            self.qpos[i] = d.qpos
            self.qvel[i] = d.qvel
            self.x[i] = self._x_of(d)

    def _step_chunk(self, idx: np.ndarray, actions: np.ndarray) -> None:
        m, fs = self.model, self.frame_skip
        for j, i in enumerate(idx):
            d = self.datas[i]
            d.ctrl[:] = actions[j]
            mujoco.mj_step(m, d, nstep=fs)
            self.qpos[i] = d.qpos
            self.qvel[i] = d.qvel
            self.x[i] = self._x_of(d)

    def step(self, idx: np.ndarray, actions: np.ndarray) -> None:
        """Apply ``actions`` (len(idx), act_dim) to copies ``idx`` for one env step."""
        if self._pool is None or len(idx) < 2 * self.nthread:
            self._step_chunk(idx, actions)
            return
        parts = np.array_split(np.arange(len(idx)), self.nthread)
        futures = [self._pool.submit(self._step_chunk, idx[p], actions[p]) for p in parts]
        for f in futures:
            f.result()


_IDLE: dict[tuple[int, int], list[BatchedSim]] = {}
"""(id of the MuJoCo model, threads) → this process's simulators not in use."""


@contextmanager
def lent_sim(spec: EnvSpec, n: int, nthread: int | None = None) -> Iterator[BatchedSim]:
    """A simulator of at least ``n`` copies of ``spec``, taken from this process's idle ones
    (or made) and given back after use; thread-safe (list pop/append).

    Why a pool: a ``mujoco.MjData`` freed from Python stays in glibc's malloc heap, so a process
    that makes and drops thousands of copies per scoring (a tuning unit scores ~2,500 at once)
    grew by ~0.25 GB a scoring, to 11 GB (benchmarks/bench_memory.py). Reusing the copies bounds
    memory by the largest batch. Reuse changes no result: :meth:`BatchedSim.restore` resets every
    copy it uses (``mj_resetData``), as a fresh one is."""
    key = (id(spec.model), nthread or default_threads())  # the sims keep the model alive
    idle = _IDLE.setdefault(key, [])
    try:
        sim = idle.pop()
    except IndexError:
        sim = BatchedSim(spec, n, nthread)
    sim.grow(n)
    try:
        yield sim
    finally:
        idle.append(sim)


def reset_states(spec: EnvSpec, seeds: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Initial (qpos, qvel) that ``env.reset(seed=s)`` gives for each seed. (M, nq), (M, nv)"""
    env = spec.probe  # cached: building an env per call costs a model compile
    qpos = np.zeros((len(seeds), spec.nq))
    qvel = np.zeros((len(seeds), spec.nv))
    for j, s in enumerate(seeds):
        env.reset(seed=int(s))
        qpos[j] = env.data.qpos
        qvel[j] = env.data.qvel
    return qpos, qvel


def draw_noise(rng, stream_index, m_envs: int, act_dim: int) -> np.ndarray:
    """One step of standard normal action noise (M, A); see :func:`run_rollouts`."""
    if rng is None:
        return np.zeros((m_envs, act_dim))
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal((m_envs, act_dim))
    per_stream = np.stack([g.standard_normal(act_dim) for g in rng])  # (S, A)
    return per_stream[stream_index]


@dataclass
class Rollouts:
    """Results of :func:`run_rollouts` for M environment copies over at most T steps.

    returns (M,), lengths (M,), terminated (M,) — and when recorded: obs (M, T, obs),
    actions (M, T, act) as executed (clipped), rewards (M, T), qpos (M, T, nq), qvel (M, T, nv)
    giving the state *before* each action; entries past ``lengths`` are zero.
    """

    returns: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    obs: np.ndarray | None = None
    actions: np.ndarray | None = None
    rewards: np.ndarray | None = None
    qpos: np.ndarray | None = None
    qvel: np.ndarray | None = None


def run_rollouts(
    spec: EnvSpec,
    actor: Actor,
    qpos0: np.ndarray,
    qvel0: np.ndarray,
    max_steps: int,
    rng: np.random.Generator | list[np.random.Generator] | None,
    *,
    stream_index: np.ndarray | None = None,
    record: bool = False,
    nthread: int | None = None,
    progress: Callable[[int], None] | None = None,
    sim: BatchedSim | None = None,
) -> Rollouts:
    """Roll M copies forward from their start states until termination or ``max_steps``.

    Every step draws standard normal noise for all copies, alive or not, so a copy's action
    sequence does not depend on when the others end. ``rng`` is one generator (noise (M, A)
    per step), or a list of S generators with ``stream_index`` (M,) mapping each copy to its
    stream (each stream draws (A,) per step; copies sharing a stream share noise), or None
    (zero noise: mean actions).
    """
    m_envs = len(qpos0)
    if sim is None:  # one of this process's idle simulators (lent_sim)
        with lent_sim(spec, m_envs, nthread) as own:
            return run_rollouts(spec, actor, qpos0, qvel0, max_steps, rng,
                                stream_index=stream_index, record=record, progress=progress,
                                sim=own)
    act_dim, obs_dim = spec.act_dim, spec.obs_dim
    low, high = spec.action_low, spec.action_high
    returns = np.zeros(m_envs)
    lengths = np.zeros(m_envs, dtype=np.int64)
    terminated = np.zeros(m_envs, dtype=bool)
    alive = np.ones(m_envs, dtype=bool)
    rec = None
    if record:
        rec = Rollouts(
            returns, lengths, terminated,
            obs=np.zeros((m_envs, max_steps, obs_dim)),
            actions=np.zeros((m_envs, max_steps, act_dim)),
            rewards=np.zeros((m_envs, max_steps)),
            qpos=np.zeros((m_envs, max_steps, spec.nq)),
            qvel=np.zeros((m_envs, max_steps, spec.nv)),
        )
    if sim.n < m_envs or sim.spec.name != spec.name:
        raise ValueError(f"lent simulator has {sim.n} copies of {sim.spec.name}, need {m_envs}")
    all_idx = np.arange(m_envs)
    sim.restore(all_idx, qpos0, qvel0)
    obs = spec.observation(sim.qpos[:m_envs], sim.qvel[:m_envs])
    for t in range(max_steps):
        noise = draw_noise(rng, stream_index, m_envs, act_dim)
        idx = all_idx[alive]
        if len(idx) == 0:
            break
        actions = np.clip(actor(obs, noise), low, high)
        if rec is not None:
            rec.obs[idx, t] = obs[idx]
            rec.actions[idx, t] = actions[idx]
            rec.qpos[idx, t] = sim.qpos[idx]
            rec.qvel[idx, t] = sim.qvel[idx]
        x_before = sim.x[idx].copy()
        sim.step(idx, actions[idx])
        reward, term = spec.reward_terminated(
            x_before, sim.x[idx], sim.qpos[idx], sim.qvel[idx], actions[idx]
        )
        returns[idx] += reward
        lengths[idx] += 1
        if rec is not None:
            rec.rewards[idx, t] = reward
        obs[idx] = spec.observation(sim.qpos[idx], sim.qvel[idx])
        terminated[idx] = term
        alive[idx[term]] = False
        if progress is not None:
            progress(1)
    if rec is not None:
        return rec
    return Rollouts(returns, lengths, terminated)
