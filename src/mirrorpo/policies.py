"""Gaussian MLP policies, stacked into populations, stored as safetensors.

Every policy in mirrorpo (ladder experts exported from stable-baselines3, the behaviour-cloned
reference, and later the PO-trained members) is the same object: an MLP on normalised
observations giving the mean of a diagonal Gaussian with a state-independent log-std,

    z = clip((s − μ_obs) / σ_obs, −c, c),   a ~ N(MLP(z), diag(exp(2·log_std))),

and actions are clipped to the action box before they reach the simulator. A
:class:`PolicyStack` holds P policies of one architecture as stacked arrays (leading axis P)
so a whole population runs in one batched matmul.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from mirrorpo.blas import one_blas_thread

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}
LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class PolicyStack:
    """P Gaussian MLP policies sharing one architecture.

    weights[i]: (P, in_i, out_i); biases[i]: (P, out_i); log_std: (P, act);
    obs_mean, obs_std: (P, obs); clip_obs: scalar bound on normalised observations.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    log_std: np.ndarray
    obs_mean: np.ndarray
    obs_std: np.ndarray
    activation: str = "tanh"
    clip_obs: float = 10.0

    def __post_init__(self) -> None:
        p = self.log_std.shape[0]
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}")
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("weights and biases must be non-empty and of equal length")
        for w, b in zip(self.weights, self.biases, strict=True):
            if w.ndim != 3 or b.shape != (p, w.shape[2]) or w.shape[0] != p:
                raise ValueError(f"layer shapes {w.shape} / {b.shape} do not stack to P={p}")
        if self.obs_mean.shape != (p, self.obs_dim) or self.obs_std.shape != (p, self.obs_dim):
            raise ValueError("obs_mean/obs_std must be (P, obs_dim)")
        if self.log_std.shape != (p, self.act_dim):
            raise ValueError("log_std must be (P, act_dim)")

    @property
    def size(self) -> int:
        return int(self.log_std.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.weights[-1].shape[2])

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(int(w.shape[2]) for w in self.weights[:-1])

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """(P, N, obs) → (P, N, obs) normalised and clipped."""
        z = (obs - self.obs_mean[:, None, :]) / self.obs_std[:, None, :]
        return np.clip(z, -self.clip_obs, self.clip_obs)

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """Gaussian mean for each policy on its own batch: obs (P, N, obs) → (P, N, act)."""
        act = ACTIVATIONS[self.activation]
        x = self.normalize(obs).astype(self.weights[0].dtype, copy=False)
        with one_blas_thread():  # the same bits for any thread count (mirrorpo.blas)
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                x = np.matmul(x, w) + b[:, None, :]  # (P, N, out_i)
                if i < len(self.weights) - 1:
                    x = act(x)
        return x

    def sample(self, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """mean + exp(log_std)·noise with caller-supplied standard normal noise (P, N, act)."""
        return self.mean_action(obs) + np.exp(self.log_std)[:, None, :] * noise

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Diagonal Gaussian log-density log π(a|s), summed over action dims. (P, N)"""
        mean = self.mean_action(obs)
        log_std = self.log_std[:, None, :]
        z = (actions - mean) * np.exp(-log_std)
        return np.sum(-0.5 * z * z - log_std - 0.5 * LOG_2PI, axis=-1)

    def select(self, index: int | list[int] | np.ndarray) -> PolicyStack:
        """A sub-population (index keeps the leading axis)."""
        idx = np.atleast_1d(np.asarray(index))
        return PolicyStack(
            weights=tuple(w[idx] for w in self.weights),
            biases=tuple(b[idx] for b in self.biases),
            log_std=self.log_std[idx],
            obs_mean=self.obs_mean[idx],
            obs_std=self.obs_std[idx],
            activation=self.activation,
            clip_obs=self.clip_obs,
        )

    def repeat(self, times: int) -> PolicyStack:
        """Each policy repeated ``times`` times (p0, p0, ..., p1, p1, ...)."""
        return self.select(np.repeat(np.arange(self.size), times))

    def to_tensors(self) -> dict[str, np.ndarray]:
        out = {"log_std": self.log_std, "obs_mean": self.obs_mean, "obs_std": self.obs_std}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"layer{i}.weight"] = w
            out[f"layer{i}.bias"] = b
        return {k: np.ascontiguousarray(v) for k, v in out.items()}


def policy_digest(stack: PolicyStack) -> str:
    """SHA-256 over a stack's arrays (names, dtypes, shapes, bytes) and settings."""
    import hashlib

    h = hashlib.sha256(f"{stack.activation}|{stack.clip_obs!r}".encode())
    for name, arr in sorted(stack.to_tensors().items()):
        h.update(f"|{name}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def concat(stacks: list[PolicyStack]) -> PolicyStack:
    """Stack populations of the same architecture into one."""
    first = stacks[0]
    for s in stacks[1:]:
        if s.hidden_sizes != first.hidden_sizes or s.activation != first.activation:
            raise ValueError("can only concatenate policies of one architecture")
    return PolicyStack(
        weights=tuple(np.concatenate(ws) for ws in zip(*(s.weights for s in stacks), strict=True)),
        biases=tuple(np.concatenate(bs) for bs in zip(*(s.biases for s in stacks), strict=True)),
        log_std=np.concatenate([s.log_std for s in stacks]),
        obs_mean=np.concatenate([s.obs_mean for s in stacks]),
        obs_std=np.concatenate([s.obs_std for s in stacks]),
        activation=first.activation,
        clip_obs=first.clip_obs,
    )


def save_policies(path: str | Path, stack: PolicyStack, info: dict | None = None) -> None:
    """Write a policy stack as safetensors; ``info`` (JSON-able) goes in the metadata.

    Layer weights are stored (and later computed) in float32; normalisers and log-std in
    float64.
    """
    meta = {
        "format": "mirrorpo.policy/1",
        "activation": stack.activation,
        "clip_obs": repr(float(stack.clip_obs)),
        "info": json.dumps(info or {}, sort_keys=True),
    }
    tensors = {
        k: v.astype(np.float32 if k.startswith("layer") else np.float64)
        for k, v in stack.to_tensors().items()
    }
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_policies(path: str | Path) -> tuple[PolicyStack, dict]:
    """Read a policy stack written by :func:`save_policies`. Returns (stack, info)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such policy file")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors policy file ({exc})") from None
    if meta.get("format") != "mirrorpo.policy/1":
        raise ValueError(f"{path}: not a mirrorpo policy file (format={meta.get('format')!r})")
    n_layers = sum(1 for k in tensors if k.endswith(".weight"))
    stack = PolicyStack(
        weights=tuple(tensors[f"layer{i}.weight"] for i in range(n_layers)),
        biases=tuple(tensors[f"layer{i}.bias"] for i in range(n_layers)),
        log_std=tensors["log_std"],
        obs_mean=tensors["obs_mean"],
        obs_std=tensors["obs_std"],
        activation=meta["activation"],
        clip_obs=float(meta["clip_obs"]),
    )
    return stack, json.loads(meta.get("info", "{}"))
