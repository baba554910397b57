"""Building a preference dataset: start states, behaviour segments, teacher labels, card.

1. Start states: the reference policy (sampled actions) plays episodes from reset seeds; every
   visited state before termination joins a pool; each pair's start state is drawn from it.
2. Segments: for each pair two ladder levels are drawn (preset's ``level_mix``) and each plays
   H steps from the restored start state (sampled actions, rounded to float32 before they are
   executed, so the stored actions replay exactly). A segment ends early on termination.
3. Labels: the preset's teacher compares the two reward sequences; equal and skipped pairs
   are dropped and more candidates are drawn, chunk by chunk, until N pairs are kept.

All randomness comes from ``numpy.random.SeedSequence(seed)``: same seed, same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mirrorpo import __version__
from mirrorpo.data.dataset import FORMAT, PreferenceDataset
from mirrorpo.data.presets import Preset, sample_levels
from mirrorpo.data.teacher import EQUAL, SKIPPED, label_pairs
from mirrorpo.envs import EnvSpec
from mirrorpo.evaluation import grouped_actor, stacked_actor
from mirrorpo.policies import PolicyStack
from mirrorpo.rollout import reset_states, run_rollouts

CHUNK_PAIRS = 1024


@dataclass(frozen=True)
class SuiteContext:
    """What a dataset is made from: env, ladder (weakest first), reference, normalisers."""

    spec: EnvSpec
    ladder: PolicyStack
    reference: PolicyStack
    random_return: float
    expert_return: float
    ladder_info: list[dict]


def start_state_pool(ctx: SuiteContext, episodes: int, seed_seq: np.random.SeedSequence,
                     progress: Callable[[int], None] | None = None):
    """All states the reference visits before termination over ``episodes`` episodes."""
    spec = ctx.spec
    seeds = seed_seq.generate_state(episodes, dtype=np.uint32).astype(np.int64)
    qpos0, qvel0 = reset_states(spec, seeds)
    rng = np.random.default_rng(seed_seq.spawn(1)[0])
    roll = run_rollouts(spec, stacked_actor(ctx.reference, episodes), qpos0, qvel0,
                        spec.max_episode_steps, rng, record=True, progress=progress)
    alive = np.arange(spec.max_episode_steps)[None, :] < roll.lengths[:, None]
    return roll.qpos[alive], roll.qvel[alive]


def segment_score(returns: np.ndarray, horizon: int, ctx: SuiteContext) -> np.ndarray:
    """Normalised segment return with per-step rates: 100·(R − H·r_rand)/(H·(r_exp − r_rand)).

    r_rand, r_exp are the random and expert episode returns divided by the episode limit.
    """
    steps = ctx.spec.max_episode_steps
    r_rand = ctx.random_return / steps
    r_exp = ctx.expert_return / steps
    return 100.0 * (returns - horizon * r_rand) / (horizon * (r_exp - r_rand))


def _float32_actor(actor):
    def act(obs, noise):
        return actor(obs, noise).astype(np.float32).astype(np.float64)

    return act


def make_dataset(
    ctx: SuiteContext,
    preset: Preset,
    *,
    num_pairs: int,
    horizon: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    start_episodes: int = 32,
) -> PreferenceDataset:
    """Generate a dataset (arrays + card) following ``preset``; see module docstring."""
    if num_pairs < 1:
        raise ValueError("--pairs must be >= 1")
    if horizon < 1:
        raise ValueError("--horizon must be >= 1")
    spec, n_levels = ctx.spec, ctx.ladder.size
    ss_start, ss_levels, ss_segments, ss_teacher = np.random.SeedSequence(seed).spawn(4)
    pool_qpos, pool_qvel = start_state_pool(ctx, start_episodes, ss_start, progress)
    level_rng = np.random.default_rng(ss_levels)
    seg_rng = np.random.default_rng(ss_segments)
    teacher_rng = np.random.default_rng(ss_teacher)

    kept: list[dict[str, np.ndarray]] = []
    n_kept = n_candidates = n_equal = n_skipped = 0
    scale = None
    while n_kept < num_pairs:
        c = min(CHUNK_PAIRS, max(64, int(1.05 * (num_pairs - n_kept)) + 8))
        lv_a, lv_b = sample_levels(preset.level_mix, n_levels, c, level_rng)
        start = level_rng.integers(0, len(pool_qpos), c)
        levels = np.concatenate([lv_a, lv_b])
        qpos0 = np.concatenate([pool_qpos[start]] * 2)
        qvel0 = np.concatenate([pool_qvel[start]] * 2)
        roll = run_rollouts(
            spec, _float32_actor(grouped_actor(ctx.ladder, levels)), qpos0, qvel0, horizon,
            seg_rng, record=True, progress=progress,
        )
        rew_a, rew_b = roll.rewards[:c], roll.rewards[c:]
        if scale is None:
            scale = float(np.mean(np.abs(roll.rewards.sum(-1)))) or 1.0
        labels = label_pairs(rew_a, rew_b, preset.teacher, teacher_rng, scale=scale)
        n_candidates += c
        n_equal += int((labels == EQUAL).sum())
        n_skipped += int((labels == SKIPPED).sum())
        keep = np.flatnonzero(labels >= 0)
        b_wins = labels[keep] == 1
        ia = keep
        ib = keep + c
        chosen = np.where(b_wins, ib, ia)
        rejected = np.where(b_wins, ia, ib)
        part = {"start_qpos": pool_qpos[start[keep]], "start_qvel": pool_qvel[start[keep]]}
        for side, rows in (("chosen", chosen), ("rejected", rejected)):
            part[f"{side}_obs"] = roll.obs[rows].astype(np.float32)
            part[f"{side}_actions"] = roll.actions[rows].astype(np.float32)
            part[f"{side}_rewards"] = roll.rewards[rows]
            part[f"{side}_length"] = roll.lengths[rows].astype(np.int32)
            part[f"{side}_terminated"] = roll.terminated[rows]
            part[f"{side}_level"] = levels[rows].astype(np.int16)
        kept.append(part)
        n_kept += len(keep)
        if n_candidates > 50 * num_pairs + 10_000:
            raise RuntimeError("teacher drops almost every pair: check equal/skip thresholds")
    arrays = {k: np.concatenate([p[k] for p in kept])[:num_pairs] for k in kept[0]}
    card = dataset_card(ctx, preset, arrays, seed=seed, horizon=horizon, scale=scale,
                        n_candidates=n_candidates, n_equal=n_equal, n_skipped=n_skipped)
    return PreferenceDataset(arrays, card)


def dataset_card(ctx: SuiteContext, preset: Preset, arrays: dict[str, np.ndarray], *,
                 seed: int, horizon: int, scale: float, n_candidates: int, n_equal: int,
                 n_skipped: int) -> dict:
    """Config and measured properties of a dataset (deterministic: no timestamps)."""
    spec = ctx.spec
    ret_c = arrays["chosen_rewards"].sum(1)
    ret_r = arrays["rejected_rewards"].sum(1)
    n_levels = ctx.ladder.size
    count = {
        side: np.bincount(arrays[f"{side}_level"], minlength=n_levels).tolist()
        for side in ("chosen", "rejected")
    }
    lengths = np.concatenate([arrays["chosen_length"], arrays["rejected_length"]])
    terminated = np.concatenate([arrays["chosen_terminated"], arrays["rejected_terminated"]])
    return {
        "format": FORMAT,
        "mirrorpo_version": __version__,
        "env": spec.name,
        "gym_id": spec.gym_id,
        "gym_kwargs": spec.gym_kwargs,
        "preset": preset.id,
        "description": preset.description,
        "seed": seed,
        "num_pairs": int(len(ret_c)),
        "horizon": horizon,
        "obs_dim": spec.obs_dim,
        "act_dim": spec.act_dim,
        "nq": spec.nq,
        "nv": spec.nv,
        "num_levels": n_levels,
        "teacher": preset.teacher.as_dict(),
        "teacher_scale": scale,
        "level_mix": preset.level_mix,
        "ladder": ctx.ladder_info,
        "normalisation": {"random_return": ctx.random_return, "expert_return": ctx.expert_return},
        "properties": {
            "label_agreement": float(np.mean(ret_c > ret_r)),
            "mean_return_chosen": float(ret_c.mean()),
            "mean_return_rejected": float(ret_r.mean()),
            "mean_score_chosen": float(segment_score(ret_c, horizon, ctx).mean()),
            "mean_score_rejected": float(segment_score(ret_r, horizon, ctx).mean()),
            "count_per_level": count,
            "candidates": n_candidates,
            "dropped_equal": n_equal,
            "dropped_skipped": n_skipped,
            "mean_segment_length": float(lengths.mean()),
            "terminated_fraction": float(terminated.mean()),
        },
    }
