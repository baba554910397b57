"""Preference pairs of the offline LLM task with the control suite's pathologies.

From n judged responses per prompt, one pair per prompt:

- ``clean``: two distinct responses at random; the one with the higher reward is chosen;
- ``noisy-20``: as clean, then 20% of the labels flipped (the teacher's mistake rate ε);
- ``mixed``: for half of the prompts the pair is the two *lowest*-reward responses, so the
  chosen one is better than its partner but not good in absolute terms; the rest as clean.

Ties (equal rewards) are skipped. Each pair records whether its label was flipped.
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


def make_pairs(rewards: np.ndarray, preset: PairPreset, seed: int) -> list[dict]:
    """rewards (P, n) → pairs {prompt, chosen, rejected (response indices), flipped}."""
    rng = np.random.default_rng(seed)
    pairs = []
    for p, r in enumerate(np.asarray(rewards, dtype=float)):
        if rng.random() < preset.weak_share:
            i, j = np.argsort(r, kind="stable")[:2]
        else:
            i, j = rng.choice(len(r), size=2, replace=False)
        flip = rng.random() < preset.flip_rate
        if r[i] == r[j]:
            continue
        win, lose = (i, j) if r[i] > r[j] else (j, i)
        if flip:
            win, lose = lose, win
        pairs.append({"prompt": p, "chosen": int(win), "rejected": int(lose),
                      "flipped": bool(flip)})
    return pairs


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
