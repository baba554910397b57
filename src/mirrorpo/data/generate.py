"""Building a preference dataset: start states, behaviour segments, teacher labels, card.

1. Start states: the reference policy (sampled actions) plays episodes from reset seeds; every
   visited state before termination joins a pool; each pair's start state is drawn from it.
2. Segments: for each pair two ladder levels are drawn (preset's ``level_mix``) and each plays
   H steps from the restored start state (sampled actions, rounded to float32 before they are
   executed, so the stored actions replay exactly). A segment ends early on termination.
3. Labels: the preset's teacher compares the two reward sequences; equal and skipped pairs
   are dropped and more candidates are drawn, chunk by chunk, until N pairs are kept.

All randomness comes from ``numpy.random.SeedSequence(seed)``: same seed, same bytes. The seed
spawns four streams (start states, level draws, segment action noise, teacher), so two recipes
that differ only in the teacher's mistake rate share start states, levels and segments, and
their flipped labels are nested (see docs/concepts.md, "Common random numbers").

A :class:`DataConfig` may override the preset's teacher knobs and level mix
(:func:`mirrorpo.data.presets.customise`); the card then records ``"preset":
"NAME/vN+custom"`` and ``"overrides"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from mirrorpo import __version__
from mirrorpo.config import ConfigError, check, setting
from mirrorpo.data.dataset import FORMAT, PreferenceDataset
from mirrorpo.data.presets import (
    LEVEL_MIXES,
    PRESETS,
    TEACHER_KNOBS,
    Preset,
    customise,
    get_preset,
    sample_levels,
)
from mirrorpo.data.teacher import EQUAL, SKIPPED, label_pairs
from mirrorpo.envs import DEFAULT_ENV, ENV_NAMES, EnvSpec, get_spec
from mirrorpo.evaluation import grouped_actor, stacked_actor
from mirrorpo.policies import PolicyStack, policy_digest
from mirrorpo.rollout import lent_sim, reset_states, run_rollouts

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
    suite_version: int = 1
    """The assets' version (``suite.json``'s ``suite_version``)."""


def load_suite_context(env: str) -> SuiteContext:
    """The shipped (or ``$MIRRORPO_ASSETS``) ladder, reference and normalisers of ``env``."""
    from mirrorpo.assets import load_ladder, load_reference, load_suite_info
    from mirrorpo.envs import get_spec

    info = load_suite_info(env)
    return SuiteContext(get_spec(env), load_ladder(env), load_reference(env),
                        info.random_return, info.expert_return, info.ladder, info.version)


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

    tally = Tally()
    kept: list[dict[str, np.ndarray]] = []
    with lent_sim(spec, 2 * min(CHUNK_PAIRS, int(1.05 * num_pairs) + 72)) as sim:
        while tally.kept < num_pairs:
            c = min(CHUNK_PAIRS, max(64, int(1.05 * (num_pairs - tally.kept)) + 8))
            lv_a, lv_b = sample_levels(preset.level_mix, n_levels, c, level_rng)
            start = level_rng.integers(0, len(pool_qpos), c)
            kept.append(labelled_chunk(
                ctx, preset, sim, pool_qpos[start], pool_qvel[start], lv_a, lv_b, horizon,
                seg_rng, teacher_rng, tally, progress,
            ))
            if tally.candidates > 50 * num_pairs + 10_000:
                raise ValueError("teacher drops almost every pair: check equal/skip thresholds")
    arrays = {k: np.concatenate([p[k] for p in kept])[:num_pairs] for k in kept[0]}
    card = dataset_card(ctx, preset, arrays, seed=seed, horizon=horizon, tally=tally,
                        start_episodes=start_episodes)
    return PreferenceDataset(arrays, card)


@dataclass
class Tally:
    """Running counts over candidate chunks, and the teacher's return scale (first chunk)."""

    kept: int = 0
    candidates: int = 0
    equal: int = 0
    skipped: int = 0
    scale: float | None = None


def labelled_chunk(ctx, preset, sim, qpos0, qvel0, lv_a, lv_b, horizon, seg_rng, teacher_rng,
                   tally: Tally, progress) -> dict[str, np.ndarray]:
    """Roll out c candidate pairs from start states (c, nq)/(c, nv) with ladder levels
    ``lv_a``/``lv_b``, label them, and return the arrays of the kept pairs."""
    c = len(lv_a)
    levels = np.concatenate([lv_a, lv_b])
    roll = run_rollouts(
        ctx.spec, _float32_actor(grouped_actor(ctx.ladder, levels)),
        np.concatenate([qpos0, qpos0]), np.concatenate([qvel0, qvel0]), horizon, seg_rng,
        record=True, progress=progress, sim=sim,
    )
    if tally.scale is None:
        tally.scale = float(np.mean(np.abs(roll.rewards.sum(-1)))) or 1.0
    labels = label_pairs(roll.rewards[:c], roll.rewards[c:], preset.teacher, teacher_rng,
                         scale=tally.scale)
    keep = np.flatnonzero(labels >= 0)
    tally.candidates += c
    tally.equal += int((labels == EQUAL).sum())
    tally.skipped += int((labels == SKIPPED).sum())
    tally.kept += len(keep)
    b_wins = labels[keep] == 1
    chosen = np.where(b_wins, keep + c, keep)
    rejected = np.where(b_wins, keep, keep + c)
    part = {"start_qpos": qpos0[keep], "start_qvel": qvel0[keep]}
    for side, rows in (("chosen", chosen), ("rejected", rejected)):
        part[f"{side}_obs"] = roll.obs[rows].astype(np.float32)
        part[f"{side}_actions"] = roll.actions[rows].astype(np.float32)
        part[f"{side}_rewards"] = roll.rewards[rows]
        part[f"{side}_length"] = roll.lengths[rows].astype(np.int32)
        part[f"{side}_terminated"] = roll.terminated[rows]
        part[f"{side}_level"] = levels[rows].astype(np.int16)
    return part


def dataset_card(ctx: SuiteContext, preset: Preset, arrays: dict[str, np.ndarray], *,
                 seed: int, horizon: int, tally: Tally, start_episodes: int) -> dict:
    """Config and measured properties of a dataset (deterministic: no timestamps).

    ``teacher`` and ``level_mix`` are the effective recipe; a custom recipe adds ``overrides``
    (what differs from the named preset) and its ``preset`` reads ``NAME/vN+custom``."""
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
    card = {
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
        "teacher_scale": tally.scale,
        "level_mix": preset.level_mix,
        "ladder": ctx.ladder_info,
        "ladder_sha256": policy_digest(ctx.ladder),
        "reference_sha256": policy_digest(ctx.reference),
        "start_state_episodes": start_episodes,
        "library_versions": {
            "mujoco": mujoco.__version__, "gymnasium": gym.__version__, "numpy": np.__version__,
        },
        "normalisation": {"random_return": ctx.random_return, "expert_return": ctx.expert_return},
        "properties": {
            "label_agreement": float(np.mean(ret_c > ret_r)),
            "mean_return_chosen": float(ret_c.mean()),
            "mean_return_rejected": float(ret_r.mean()),
            "mean_score_chosen": float(segment_score(ret_c, horizon, ctx).mean()),
            "mean_score_rejected": float(segment_score(ret_r, horizon, ctx).mean()),
            "count_per_level": count,
            "candidates": tally.candidates,
            "dropped_equal": tally.equal,
            "dropped_skipped": tally.skipped,
            "mean_segment_length": float(lengths.mean()),
            "terminated_fraction": float(terminated.mean()),
        },
    }
    if ctx.suite_version != 1:  # absent for suite v1, so v1 cards are as before
        card["suite_version"] = ctx.suite_version
    if preset.overrides:  # absent for a named preset, so its card is as before
        card["overrides"] = dict(preset.overrides)
    return card


@dataclass(frozen=True)
class DataConfig:
    """One draw of a preset: which env, preset, size and seed (each checked when built)."""

    env: str = setting(DEFAULT_ENV, help="Suite environment (Gymnasium MuJoCo v5).",
                       choices=lambda: ENV_NAMES)
    preset: str = setting("clean", help="Preset name (see `mirrorpo data presets`).",
                          choices=lambda: tuple(PRESETS))
    pairs: int | None = setting(None, ge=1, help="Number of pairs [default: the preset's, "
                                                 "5120 for most].")
    horizon: int | None = setting(None, ge=1, le=1000, help="Segment length H in env steps "
                                  "[default: the env's: hopper 300, walker2d 200, "
                                  "halfcheetah and ant 100].")
    seed: int = setting(0, ge=0, help="Seed of the draw: the same seed gives the same bytes.")
    mistake_rate: float | None = setting(None, ge=0, le=0.5, help="Teacher's mistake rate ε: "
                                         "each label is flipped with this probability "
                                         "[default: the preset's].")
    temperature: float | None = setting(None, ge=0, help="Bradley–Terry temperature T of the "
                                        "teacher, in units of the mean |segment return| "
                                        "(0: argmax) [default: the preset's].")
    myopic_discount: float | None = setting(None, gt=0, le=1, help="Teacher's myopic discount "
                                            "γ: step t of H weighs γ^(H−1−t) (1: true return) "
                                            "[default: the preset's].")
    equal_threshold: float | None = setting(None, ge=0, help="Pairs whose returns differ by "
                                            "less than this × the return scale are 'equal' and "
                                            "dropped [default: the preset's].")
    skip_threshold: float | None = setting(None, help="Pairs whose better return is below "
                                           "this × the return scale are skipped; may be "
                                           "negative [default: the preset's, no skipping].")
    level_mix: str | None = setting(None, choices=lambda: LEVEL_MIXES, help="How the two "
                                    "ladder levels of a pair are drawn [default: the "
                                    "preset's].")

    def __post_init__(self):
        if isinstance(self.preset, str) and "/" in self.preset:  # a versioned id, "mixed/v1"
            try:
                object.__setattr__(self, "preset", get_preset(self.preset).name)
            except ValueError as exc:
                raise ConfigError(f"DataConfig.preset: {exc}") from None
        check(self)
        for name in TEACHER_KNOBS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value) and not (
                    name == "skip_threshold" and value == -math.inf):
                raise ConfigError(f"DataConfig.{name}: must be finite, got {value}")
        try:
            self.recipe  # noqa: B018 (the teacher checks the combination)
        except ValueError as exc:
            raise ConfigError(f"DataConfig: {exc}") from None

    @property
    def recipe(self) -> Preset:
        """The preset with this config's teacher and level-mix overrides (the preset itself
        when none differs from its own values)."""
        return customise(get_preset(self.preset), level_mix=self.level_mix,
                         **{k: getattr(self, k) for k in TEACHER_KNOBS})

    @property
    def num_pairs(self) -> int:
        return get_preset(self.preset).pairs if self.pairs is None else self.pairs

    @property
    def segment_horizon(self) -> int:
        return get_spec(self.env).segment_horizon if self.horizon is None else self.horizon

    def progress_total(self) -> int:
        """Steps the progress of :func:`make_dataset` counts for this config."""
        chunks = -(-int(self.num_pairs * 1.05 + 8) // CHUNK_PAIRS)
        return get_spec(self.env).max_episode_steps + chunks * self.segment_horizon
