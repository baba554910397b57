"""Programmatic prompts of the offline LLM task: short requests about everyday topics.

Prompts are template × topic. The split is by topic, so held-out prompts ask about topics the
training prompts never mention.
"""

from __future__ import annotations

import numpy as np

TEMPLATES = (
    "Write one sentence about {topic}.",
    "Describe {topic} in a short sentence.",
    "What do you think about {topic}? Answer in one sentence.",
    "Tell me briefly how you feel about {topic}.",
    "Give a one-line review of {topic}.",
    "In one sentence, tell a friend about {topic}.",
)

TOPICS = (
    "the weather today", "your morning coffee", "a train journey", "a local bakery",
    "a new smartphone", "a rainy weekend", "a football match", "a museum visit",
    "a long flight", "a hotel room", "a summer holiday", "a job interview",
    "a birthday party", "a hiking trail", "a city park", "a pizza restaurant",
    "a science fiction film", "a music festival", "a public library", "a dentist appointment",
    "a traffic jam", "a cooking class", "a new neighbour", "a family dinner",
    "a winter morning", "a bicycle ride", "an online course", "a second-hand bookshop",
    "a yoga lesson", "a thunderstorm", "a camping trip", "a farmers market",
    "a software update", "a street concert", "a garden in spring", "a school reunion",
    "a crowded bus", "an art exhibition", "a beach at sunset", "a chess game",
    "a video call", "a laptop battery", "a mountain village", "a theatre play",
    "a cup of tea", "a wedding", "a power cut", "a night market",
    "a running race", "a board game evening", "a fishing trip", "a snowy road",
    "a podcast episode", "an airport queue", "a coffee machine", "a home-made soup",
    "a football stadium", "a moving day", "a lost umbrella", "a rooftop bar",
    "a quiz night", "a ferry crossing", "a sunny balcony", "a delayed parcel",
)


def split_topics(seed: int, held_out: float = 0.25) -> tuple[list[str], list[str]]:
    """(train topics, held-out topics): a seeded permutation, ``held_out`` of them held out."""
    order = np.random.default_rng(seed).permutation(len(TOPICS))
    k = max(1, round(held_out * len(TOPICS)))
    return [TOPICS[i] for i in sorted(order[k:])], [TOPICS[i] for i in sorted(order[:k])]


def make_prompts(topics: list[str]) -> list[str]:
    """Every template for every topic."""
    return [t.format(topic=topic) for topic in topics for t in TEMPLATES]
