"""The programmatic judge of the offline LLM task: positive sentiment, guarded against hacking.

reward(y) = VADER compound(y) − length penalty − repetition penalty − fluency penalty, where

- VADER (Hutto & Gilbert, 2014) scores sentiment in [−1, 1];
- the length penalty charges ``length_rate`` per word outside [min_words, max_words]
  (long gushing answers otherwise win);
- the repetition penalty charges ``repetition_rate`` × (min_distinct − distinct-2) when the
  share of distinct word bigrams falls below ``min_distinct`` ("great great great ...");
- the fluency penalty charges ``fluency_rate`` × (fluency_floor − ℓ̄_ref) when the mean per-token
  log-likelihood under the reference model, ℓ̄_ref, falls below ``fluency_floor`` (word salad
  of positive words).

Everything but ℓ̄_ref is computed from the text alone; the caller supplies ℓ̄_ref.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache


@dataclass(frozen=True)
class JudgeConfig:
    min_words: int = 5
    max_words: int = 40
    length_rate: float = 0.05
    min_distinct: float = 0.7
    repetition_rate: float = 2.0
    fluency_floor: float = -3.5
    fluency_rate: float = 0.5

    def to_json(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER compound score in [−1, 1]."""
    return float(_analyzer().polarity_scores(text)["compound"])


def distinct_bigrams(text: str) -> float:
    """Share of distinct word bigrams (1 for texts of fewer than three words)."""
    words = text.lower().split()
    pairs = list(zip(words, words[1:], strict=False))
    return 1.0 if len(pairs) < 2 else len(set(pairs)) / len(pairs)


def reward_terms(text: str, ref_mean_logp: float, cfg: JudgeConfig = JudgeConfig()) -> dict:
    """The reward and its parts for one response."""
    n = len(text.split())
    length = cfg.length_rate * (max(0, cfg.min_words - n) + max(0, n - cfg.max_words))
    repetition = cfg.repetition_rate * max(0.0, cfg.min_distinct - distinct_bigrams(text))
    fluency = cfg.fluency_rate * max(0.0, cfg.fluency_floor - ref_mean_logp)
    s = sentiment(text)
    return {"reward": s - length - repetition - fluency, "sentiment": s,
            "length_penalty": length, "repetition_penalty": repetition,
            "fluency_penalty": fluency, "words": n}


def reward(text: str, ref_mean_logp: float, cfg: JudgeConfig = JudgeConfig()) -> float:
    return reward_terms(text, ref_mean_logp, cfg)["reward"]
