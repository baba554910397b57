"""A training run: several losses × seeds fine-tuned from the reference on one dataset, each
member scored by environment return; the result can save itself as a run directory.

Member ``LABEL/seedK`` trains with seed K (minibatch order) and is scored on the episodes of
reset seeds ``eval_seed + j`` (j < episodes), the same for every member, so members are compared
on common episodes. A run directory holds ``run.json`` (strict JSON: a failed member has
``"status": "failed"``, its reason, and null scores) and ``policies.safetensors``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from mirrorpo.config import check, setting
from mirrorpo.data.dataset import PreferenceDataset
from mirrorpo.evaluation import PolicyScore
from mirrorpo.losses.resolve import LossLike, NamedLoss, resolve_losses
from mirrorpo.policies import PolicyStack
from mirrorpo.progress import Progress, no_progress
from mirrorpo.training.population import LOG_KEYS, TrainConfig, train_population

RUN_FILE = "run.json"
POLICIES_FILE = "policies.safetensors"


@dataclass(frozen=True)
class TrainRunConfig:
    """A training run's settings: seeds per loss, evaluation, and the optimiser settings."""

    seeds: int = setting(5, help="Training seeds per loss (members = losses × seeds).", ge=1)
    episodes: int = setting(10, help="Evaluation episodes per member.", ge=2)
    eval_seed: int = setting(200_000, help="Episode j of every member starts from "
                                           "env.reset(seed=EVAL_SEED + j).", ge=0)
    train: TrainConfig = setting(default_factory=TrainConfig, cli=False,
                                 help="Optimiser settings (TrainConfig).")

    def __post_init__(self):
        check(self)


@dataclass(frozen=True)
class MemberResult:
    """One trained member: its loss, seed, outcome, score and training curves."""

    name: str
    """``LABEL/seedK``."""
    label: str
    spec: str
    """What a saved run records for the loss (its spec, or ``python:LABEL``)."""
    seed: int
    failed: bool
    fail_reason: str | None
    score: PolicyScore | None
    """None when training failed."""
    curves: dict[str, list[float]]
    """LOG_KEYS → values at ``TrainRun.curve_steps``."""

    def to_json(self) -> dict:
        scores = self.score.as_dict() if self.score is not None else {
            k: None for k in PolicyScore.json_keys()}
        return {"loss": self.label, "loss_spec": self.spec, "seed": self.seed,
                "status": "failed" if self.failed else "ok", "failed": self.failed,
                "fail_reason": self.fail_reason, **scores, "curves": self.curves}


@dataclass(frozen=True)
class TrainRun:
    """What :func:`train` returns: members (in loss-major, seed-minor order) and policies."""

    config: TrainRunConfig
    dataset_card: dict
    members: tuple[MemberResult, ...]
    policies: PolicyStack
    curve_steps: tuple[int, ...]
    data: str | None = None
    """Where the dataset was read from, when it was read from disk."""
    extra: dict = field(default_factory=dict)

    @property
    def failures(self) -> dict[str, str]:
        """Member name → why it failed."""
        return {m.name: m.fail_reason or "failed" for m in self.members if m.failed}

    def scores(self) -> dict[str, float | None]:
        """Member name → normalised score with sampled actions (None if failed)."""
        return {m.name: None if m.score is None else m.score.sampled_mean for m in self.members}

    def to_json(self) -> dict:
        cfg = asdict(self.config)
        return {"data": self.data, "dataset_card": self.dataset_card,
                "config": {**self.config.train.to_json()},
                "seeds": cfg["seeds"], "episodes": cfg["episodes"],
                "eval_seed": cfg["eval_seed"], "curve_steps": list(self.curve_steps),
                "members": {m.name: m.to_json() for m in self.members}}

    def save(self, out, *, force: bool = False) -> None:
        """Write ``out/run.json`` and ``out/policies.safetensors``, swapped in whole."""
        from mirrorpo.fileio import strict_json, write_text_atomic
        from mirrorpo.outputs import atomic_dir, check_output_dir
        from mirrorpo.policies import save_policies

        check_output_dir(out, RUN_FILE, "training run", force=force)
        with atomic_dir(out) as tmp:
            save_policies(tmp / POLICIES_FILE, self.policies,
                          {"env": self.dataset_card["env"],
                           "members": [m.name for m in self.members]})
            record = strict_json(self.to_json())  # null for non-finite numbers
            write_text_atomic(tmp / RUN_FILE, json.dumps(record, indent=2, allow_nan=False))


def member_plan(losses: Sequence[NamedLoss], seeds: int) -> list[tuple[str, NamedLoss, int]]:
    """(member name, loss, seed) for every loss × seed, loss-major."""
    return [(f"{nl.label}/seed{k}", nl, k) for nl in losses for k in range(seeds)]


def train(data: PreferenceDataset | str, losses: Sequence[LossLike | NamedLoss],
          config: TrainRunConfig = TrainRunConfig(), *, progress: Progress = no_progress,
          nthread: int | None = None) -> TrainRun:
    """Fine-tune the env's reference with every loss × seed (one population), then score each
    member on common episodes.

    ``data`` is a dataset or its directory; ``losses`` any mix of loss specs, loss files,
    Python callables and :class:`NamedLoss` (labels must differ). Every input is checked
    before training starts.
    """
    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.evaluation import score_policies

    where = None
    if not isinstance(data, PreferenceDataset):
        where, data = str(data), load_dataset(data)
    named = resolve_losses(losses)
    if not named:
        raise ValueError("losses: give at least one loss")
    env = data.card["env"]
    plan = member_plan(named, config.seeds)
    reference = load_reference(env)
    with progress(f"train {len(plan)} members", config.train.steps) as advance:
        res = train_population(reference, data.arrays, [nl.fn for _, nl, _ in plan],
                               [k for _, _, k in plan], config.train, progress=advance)
    stack = res.policy.to_stack()
    scores = score_policies(env, stack, episodes=config.episodes, seed=config.eval_seed,
                            progress=progress, nthread=nthread,
                            device=config.train.device)
    members = tuple(
        MemberResult(name, nl.label, nl.record, k, bool(res.failed[i]), res.fail_reason[i],
                     None if res.failed[i] else scores[i],
                     {key: [float(row[i]) for row in getattr(res.log, key)]
                      for key in LOG_KEYS})
        for i, (name, nl, k) in enumerate(plan))
    return TrainRun(config, data.card, members, stack, tuple(res.log.steps), where)
