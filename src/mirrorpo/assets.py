"""The shipped suite assets per environment: ladder, reference policy and measured returns.

Layout (``mirrorpo/assets/<env>/``): ``ladder.safetensors`` (L policies, weakest first),
``reference.safetensors`` (one policy) and ``suite.json`` (measured random and expert returns,
each ladder level's return and score, the reference's score, and how they were measured).

Suite versions: like a preset's recipe, an environment's assets never change under a version.
Rebuilding an env's ladder or reference makes a new version, recorded as ``suite_version`` in
its suite.json (absent: 1) and on the card of every dataset drawn from it; see the version
history in docs/suite.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mirrorpo.envs import get_spec
from mirrorpo.fileio import write_text_atomic
from mirrorpo.policies import PolicyStack, load_policies

SUITE_FILE = "suite.json"
SUITE_VERSION_KEY = "suite_version"
"""suite.json's version of an env's assets; suites written before versions existed are 1."""
LADDER_FILE = "ladder.safetensors"
REFERENCE_FILE = "reference.safetensors"


ASSETS_ENV_VAR = "MIRRORPO_ASSETS"


def asset_dir(env: str) -> Path:
    """Directory of the assets for ``env``: ``$MIRRORPO_ASSETS/<env>`` if that variable is set,
    else the copy shipped inside the package (may not exist yet)."""
    root = os.environ.get(ASSETS_ENV_VAR)
    base = Path(root) if root else Path(str(resources.files("mirrorpo") / "assets"))
    return base / get_spec(env).name


@dataclass(frozen=True)
class SuiteInfo:
    """Contents of suite.json."""

    env: str
    random_return: float
    expert_return: float
    ladder: list[dict]
    reference: dict | None
    raw: dict

    @property
    def num_levels(self) -> int:
        return len(self.ladder)

    @property
    def version(self) -> int:
        """The version of these assets (``suite_version``; 1 when absent)."""
        return int(self.raw.get(SUITE_VERSION_KEY, 1))

    @property
    def id(self) -> str:
        """``halfcheetah/v2``: env and suite version."""
        return f"{self.env}/v{self.version}"


def missing_assets_message(env: str, what: str, root: Path | None = None) -> str:
    cmd = "mirrorpo experts train" if what != REFERENCE_FILE else "mirrorpo reference train"
    path = (root or asset_dir(env)) / what
    return f"{path}: not shipped for env '{env}' (build it with `{cmd} --env {env}`)"


def load_suite_info(env: str, root: Path | None = None) -> SuiteInfo:
    path = (root or asset_dir(env)) / SUITE_FILE
    if not path.is_file():
        raise FileNotFoundError(missing_assets_message(env, SUITE_FILE, root))
    raw = json.loads(path.read_text())
    return SuiteInfo(
        env=raw["env"],
        random_return=float(raw["random_return"]),
        expert_return=float(raw["expert_return"]),
        ladder=list(raw["ladder"]),
        reference=raw.get("reference"),
        raw=raw,
    )


def load_ladder(env: str, root: Path | None = None) -> PolicyStack:
    path = (root or asset_dir(env)) / LADDER_FILE
    if not path.is_file():
        raise FileNotFoundError(missing_assets_message(env, LADDER_FILE, root))
    return load_policies(path)[0]


def load_reference(env: str, root: Path | None = None) -> PolicyStack:
    path = (root or asset_dir(env)) / REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(missing_assets_message(env, REFERENCE_FILE, root))
    return load_policies(path)[0]


def write_suite_info(env: str, raw: dict, root: Path | None = None) -> Path:
    d = root or asset_dir(env)
    d.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(d / SUITE_FILE, json.dumps(raw, indent=2, sort_keys=True) + "\n")
