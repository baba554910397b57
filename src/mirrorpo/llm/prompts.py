"""Programmatic prompts of the offline LLM task: short requests about everyday topics.

Prompts are template × topic. The split is by topic, so held-out prompts ask about topics the
training prompts never mention; the held-out prompts are split by topic again into a
validation half (for tuning) and a test half (:func:`split_heldout`).
"""

from __future__ import annotations

import re

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


MORE_TEMPLATES = (
    "Sum up {topic} in a single sentence.",
    "Share a quick opinion on {topic}, in one sentence.",
)

MORE_TOPICS = (
    "a street food stall", "a crowded beach", "a tram ride", "a vegetable garden",
    "a rainy commute", "a jazz club", "a mountain hut", "a history lesson",
    "a new haircut", "a bowling alley", "a car wash", "a late train",
    "a sushi bar", "a chemistry lab", "a flea market", "a lighthouse tour",
    "a karaoke night", "a kite festival", "a desert road trip", "a botanical garden",
    "a sailing lesson", "a zoo visit", "an ice rink", "a marathon finish",
    "a broken washing machine", "a team meeting", "a tax form", "a spelling test",
    "a picnic lunch", "a shopping mall", "a new keyboard", "a noisy neighbour",
    "a piano recital", "a pottery class", "a ski lift", "a hot air balloon",
    "a train station café", "a photography walk", "a village fair", "a waterfall hike",
    "a cinema queue", "a handwritten letter", "a grocery delivery", "a fire drill",
    "a library card", "a pet shop", "a dog walk", "a cat café",
    "a vintage car", "a lemon tart", "a power nap", "a spring cleaning",
    "a tennis match", "a swimming pool", "a cycling lane", "a science museum",
    "a poetry reading", "a comedy show", "a strawberry field", "a treehouse",
    "a foggy morning", "a full moon", "a heat wave", "a frosty window",
    "a toy shop", "a bus timetable", "a new recipe", "a sourdough loaf",
    "a bakery queue", "a garage sale", "a river cruise", "a city marathon",
    "a chess club", "a language exchange", "a charity run", "a job fair",
    "a coding bootcamp", "a hackathon", "a robot vacuum", "a smart watch",
    "a printer jam", "a phone upgrade", "a password reset", "a wifi outage",
    "a road closure", "a parking ticket", "a taxi ride", "a cable car",
    "a castle tour", "a cave visit", "a canal walk", "a harbour view",
    "a bird watching trip", "a stargazing night", "a sunrise run", "a rooftop garden",
    "a cheese shop", "a tea ceremony", "a spice market", "a chocolate factory",
    "a dance class", "a choir rehearsal", "a drum lesson", "a guitar shop",
    "a weekend market", "a village church", "a seaside town", "a forest cabin",
)

PROMPT_SETS = {"v1": (TEMPLATES, TOPICS),
               "v2": (TEMPLATES + MORE_TEMPLATES, TOPICS + MORE_TOPICS)}
"""Prompt sets: v1 (64 topics × 6 templates: 288 training and 96 held-out prompts at seed 0)
and v2 (172 topics × 8 templates: 1032 training and 344 held-out prompts), split by topic."""


def split_topics(seed: int, held_out: float = 0.25,
                 topics: tuple[str, ...] = TOPICS) -> tuple[list[str], list[str]]:
    """(train topics, held-out topics): a seeded permutation, ``held_out`` of them held out."""
    order = np.random.default_rng(seed).permutation(len(topics))
    k = max(1, round(held_out * len(topics)))
    return [topics[i] for i in sorted(order[k:])], [topics[i] for i in sorted(order[:k])]


def make_prompts(topics: list[str], templates: tuple[str, ...] = TEMPLATES) -> list[str]:
    """Every template for every topic."""
    return [t.format(topic=topic) for topic in topics for t in templates]


def prompt_split(prompt_set: str, seed: int) -> tuple[list[str], list[str]]:
    """(training prompts, held-out prompts) of a prompt set (``PROMPT_SETS``)."""
    templates, topics = PROMPT_SETS[prompt_set]
    train, held = split_topics(seed, topics=topics)
    return make_prompts(train, templates), make_prompts(held, templates)


EVAL_SPLITS = ("all", "validation", "test")
"""Held-out prompts an evaluation uses: all of them, or one topic half (:func:`split_heldout`)."""
HELDOUT_SPLIT_SEED = 0
"""Seed of the validation/test permutation of the held-out topics (fixed: one split per data)."""


def _template_pattern(template: str) -> re.Pattern:
    before, _, after = template.partition("{topic}")
    return re.compile(f"^{re.escape(before)}(?P<topic>.+){re.escape(after)}$", re.S)


_PATTERNS = tuple(_template_pattern(t) for t in dict.fromkeys(TEMPLATES + MORE_TEMPLATES))


def heldout_topic(prompt: str) -> str:
    """The topic of a template prompt (the text a template of any prompt set wraps); a
    prompt no template made is its own topic."""
    for pattern in _PATTERNS:
        m = pattern.match(prompt)
        if m:
            return m["topic"]
    return prompt


def split_heldout(prompts: list[str], seed: int = HELDOUT_SPLIT_SEED
                  ) -> tuple[list[str], list[str]]:
    """(validation, test) prompts: the topics (``heldout_topic``), sorted, permuted with
    ``seed``; the first ⌊n/2⌋ of the n topics are validation, the rest test. Every prompt of
    a topic lands in one half; each half keeps the prompts' order. ValueError for fewer than
    two topics."""
    topics = sorted(set(map(heldout_topic, prompts)))
    if len(topics) < 2:
        raise ValueError(f"held-out prompts span {len(topics)} topic(s); a validation/test "
                         "split needs 2 or more")
    order = np.random.default_rng(seed).permutation(len(topics))
    validation = {topics[i] for i in order[:len(topics) // 2]}
    val = [p for p in prompts if heldout_topic(p) in validation]
    return val, [p for p in prompts if heldout_topic(p) not in validation]


def select_split(prompts: list[str], split: str) -> list[str]:
    """The held-out prompts of ``split`` (``EVAL_SPLITS``): all, or one half of
    :func:`split_heldout`."""
    if split not in EVAL_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(EVAL_SPLITS)}")
    if split == "all":
        return list(prompts)
    val, test = split_heldout(prompts)
    return val if split == "validation" else test
