"""Versions of the evaluation protocol's seed layout (docs/protocol.md, "Seeds of each phase").

Each phase (benchmark validation, benchmark test and meta-test, search fitness) trains members
on its own range of training seeds, starting at its first seed s₀ (1000, 0, 2000), and scores
member seed s with an evaluation seed E(s): its episode j starts from ``env.reset(seed=E(s) +
j)`` and draws its action noise from ``default_rng([E(s), j])`` (mirrorpo.evaluation).

* **Protocol 1** (runs made before protocol versions existed): E(s) = base + s, so consecutive
  training seeds shared K − 1 of their K start states.
* **Protocol 2** (the default): E(s) = base + (s − s₀)·K, so the K episodes of every training
  seed are their own. Phase ranges of reset seeds are [base, base + n·K) for n training seeds
  of the phase; with the bases 400000 (validation), 500000 (test) and 700000 (fitness) they
  are disjoint while validation seeds × episodes ≤ 100000 and test seeds × episodes ≤ 200000
  (``mirrorpo.benchmark.BenchConfig`` checks both).

Configs record the protocol they were made with (``BenchConfig.protocol``,
``FitnessConfig.protocol``); a config saved before the field existed reads back as protocol 1,
so an old run keeps its numbers and is never mixed with a new one.
"""

from __future__ import annotations

PROTOCOL = 2
"""The current seed layout; configs made now record it."""
PROTOCOLS = (1, 2)


def eval_seed(base: int, seed: int, first: int, episodes: int, protocol: int = PROTOCOL) -> int:
    """The evaluation seed E of a member trained with ``seed`` in a phase whose training seeds
    start at ``first`` and whose members play ``episodes`` episodes from evaluation base
    ``base``: its episodes start from reset seeds E … E + episodes − 1."""
    if protocol == 1:
        return base + seed
    if protocol == 2:
        if seed < first:
            raise ValueError(f"training seed {seed} is below its phase's first seed {first}")
        return base + (seed - first) * episodes
    raise ValueError(f"unknown protocol {protocol}; known: {', '.join(map(str, PROTOCOLS))}")
