"""The offline judge: sentiment counts, hacks are penalised."""

import pytest

pytest.importorskip("vaderSentiment", reason="the llm extra (vadersentiment) is not installed")

from mirrorpo.llm.judge import JudgeConfig, distinct_bigrams, reward, reward_terms  # noqa: E402

FLUENT = -2.0  # a plausible mean per-token log-likelihood under the reference


def test_positive_beats_neutral_beats_negative():
    pos = reward("The train ride was lovely and the staff were so kind.", FLUENT)
    neu = reward("The train left the station at nine and arrived at noon.", FLUENT)
    neg = reward("The train ride was awful and the staff were rude to me.", FLUENT)
    assert pos > neu > neg


def test_repetition_is_penalised_below_an_honest_answer():
    honest = "I really enjoyed the concert, the band played wonderfully tonight."
    hack = "great great great great great great great great great great"
    assert distinct_bigrams(hack) < 0.2 < distinct_bigrams(honest)
    assert reward(hack, FLUENT) < reward(honest, FLUENT)


def test_length_and_fluency_guards():
    cfg = JudgeConfig()
    long = " ".join(["The day was nice and I was happy about it."] * 8)
    terms = reward_terms(long, FLUENT, cfg)
    assert terms["words"] > cfg.max_words and terms["length_penalty"] > 0
    ok = "The weather today is sunny and pleasant for a walk."
    assert reward(ok, -6.0) < reward(ok, FLUENT) == reward_terms(ok, FLUENT)["sentiment"]
