"""Preference pairs of the offline LLM task with the control suite's pathologies.

From n judged responses per prompt, one pair per prompt:

- ``clean``: two distinct responses at random; the one with the higher reward is chosen;
- ``noisy-20``: as clean, then 20% of the labels flipped (the teacher's mistake rate ε);
- ``mixed``: for half of the prompts the pair is the two *lowest*-reward responses, so the
  chosen one is better than its partner but not good in absolute terms; the rest as clean.

Ties (equal rewards): v1 skips the prompt; v2 (``redraw_ties``) takes another pair of the same
prompt with distinct rewards instead (``clean``/``noisy-20``: one at random among them;
the weak half of ``mixed``: the lowest response and the lowest one scored above it), and
skips the prompt only when all its responses tie. The judge gives many responses the same
reward (0 for neutral sentiment, one floor for disfluent text), so skipping cost about 3% of
the prompts, which would leave v2's 1032 training prompts near 1000 pairs. Each pair records
whether its label was flipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairPreset:
    flip_rate: float = 0.0
    weak_share: float = 0.0


PRESETS = {"clean": PairPreset(), "noisy-20": PairPreset(flip_rate=0.2),
           "mixed": PairPreset(weak_share=0.5)}


def make_pairs(rewards: np.ndarray, preset: PairPreset, seed: int, *,
               redraw_ties: bool = False) -> list[dict]:
    """rewards (P, n) → pairs {prompt, chosen, rejected (response indices), flipped}; a tied
    pair is skipped, or with ``redraw_ties`` replaced as the module docstring says."""
    rng = np.random.default_rng(seed)
    pairs = []
    for p, r in enumerate(np.asarray(rewards, dtype=float)):
        weak = rng.random() < preset.weak_share
        if weak:
            i, j = np.argsort(r, kind="stable")[:2]
        else:
            i, j = rng.choice(len(r), size=2, replace=False)
        flip = rng.random() < preset.flip_rate
        if r[i] == r[j] and redraw_ties:
            i, j = redrawn_pair(r, weak, rng)
        if i is None or r[i] == r[j]:
            continue
        win, lose = (i, j) if r[i] > r[j] else (j, i)
        if flip:
            win, lose = lose, win
        pairs.append({"prompt": p, "chosen": int(win), "rejected": int(lose),
                      "flipped": bool(flip)})
    return pairs


def redrawn_pair(r: np.ndarray, weak: bool, rng: np.random.Generator):
    """A pair of responses with distinct rewards, (None, None) if every reward ties: the
    lowest and the lowest above it (``weak``), or one at random among all such pairs."""
    if weak:
        order = np.argsort(r, kind="stable")
        above = [k for k in order if r[k] > r[order[0]]]
        return (order[0], above[0]) if above else (None, None)
    distinct = [(a, b) for a in range(len(r)) for b in range(a + 1, len(r)) if r[a] != r[b]]
    return distinct[rng.integers(len(distinct))] if distinct else (None, None)


def pair_card(rewards: np.ndarray, pairs: list[dict]) -> dict:
    """Measured properties: flip rate, mean chosen/rejected reward, share of chosen responses
    below their prompt's median reward (the mixed-quality signature)."""
    r = np.asarray(rewards, dtype=float)
    chosen = np.array([r[q["prompt"], q["chosen"]] for q in pairs])
    rejected = np.array([r[q["prompt"], q["rejected"]] for q in pairs])
    medians = np.array([np.median(r[q["prompt"]]) for q in pairs])
    return {"pairs": len(pairs), "flip_rate": float(np.mean([q["flipped"] for q in pairs])),
            "chosen_reward_mean": float(chosen.mean()),
            "rejected_reward_mean": float(rejected.mean()),
            "chosen_below_median": float((chosen < medians).mean())}
