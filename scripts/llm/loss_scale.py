"""Issue 18, item 1: which treatment keeps a discovered loss sane on another domain's
log-likelihood scale? Measured at the start of training (policy = reference) on the suite
data the loss was fitted on and on SmolLM2's own replies, then checked by a few real steps.

    python scripts/llm/loss_scale.py --loss docs/results/hopper-mixed-v2/best-gen27.json \
        --suite runs/p16/hopper-mixed/pool/s0 --model /tmp/smollm2 \
        --responses runs/llm/v2/responses.jsonl --out runs/llm/scale [--train-steps 6]

Treatments of the loss (``mirrorpo.losses.scale``): as fitted; per-token input (s = 1);
the exponential link off (λ_exp = 0); calibrated (ℓ ↦ c·ℓ, c = suite margin scale / LLM
margin scale, the identity on the suite); DPO (β = 0.1) as the control. Pairs on the LLM side
are two sampled replies per prompt, ordered by the task's judge, as `llm data` orders them.
Writes OUT/profile-LOSS.json and .md, the measured ℓ (OUT/domains-*.npz) and the LLM pairs
(OUT/pairs.jsonl); with --train-steps, one `mirrorpo llm train` run per treatment on those
pairs (OUT/train-NAME, its log.csv: loss and gradient norm before clipping).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from mirrorpo.losses.mpo import MPOLoss, dpo_point, load_mpo
from mirrorpo.losses.scale import CalibratedLoss, at_reference, gradient_profile, margin_scale

KEYS = ("ref_w", "ref_l", "len_w", "len_l")


def suite_logps(data_dir: Path) -> dict[str, np.ndarray]:
    """Reference ℓ and lengths of a suite dataset's pairs (the trainer's defaults)."""
    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.training.population import SegmentTable, TrainConfig, reference_logps

    ds = load_dataset(data_dir)
    table = SegmentTable.from_arrays(ds.arrays, torch.float32)
    ref = reference_logps(load_reference(ds.card["env"]), table,
                          float(np.log(TrainConfig().action_resolution)), torch.float32)
    ref, lengths = ref.double().numpy(), table.lengths.double().numpy()
    n = len(ref) // 2
    return {"ref_w": ref[:n], "ref_l": ref[n:], "len_w": lengths[:n], "len_l": lengths[n:]}


def llm_pairs(model_dir: Path, responses: Path, prompts: int) -> tuple[dict, list[dict]]:
    """Reference ℓ and token counts of the first two replies to each of the first ``prompts``
    prompts, chosen = the judge's higher reward; and the pairs as preference rows."""
    from mirrorpo.llm.generate import response_logps
    from mirrorpo.llm.judge import reward
    from mirrorpo.llm.model import load_model

    rows = [json.loads(line) for line in responses.read_text().splitlines()[1:prompts + 1]]
    model, tok = load_model(model_dir)
    model.eval()
    texts = [r["prompt"] for r in rows for _ in range(2)]
    replies = [x for r in rows for x in r["responses"][:2]]
    sums, counts = response_logps(model, tok, texts, replies)
    sums, counts = sums.double().numpy(), counts.double().numpy()
    judged = [reward(t, s / max(c, 1)) for t, s, c in zip(replies, sums, counts, strict=True)]
    first_better = np.array(judged[0::2]) >= np.array(judged[1::2])
    w = np.where(first_better, 0, 1) + 2 * np.arange(len(rows))
    lo = np.where(first_better, 1, 0) + 2 * np.arange(len(rows))
    pairs = [{"prompt": [{"role": "user", "content": r["prompt"]}],
              "chosen": [{"role": "assistant", "content": replies[i]}],
              "rejected": [{"role": "assistant", "content": replies[j]}]}
             for r, i, j in zip(rows, w, lo, strict=True)]
    return ({"ref_w": sums[w], "ref_l": sums[lo], "len_w": counts[w], "len_l": counts[lo]},
            pairs)


EDITS = {"per-token": {"length_power": 1.0}, "exp-off": {"lam_exp": 0.0}}
"""The treatments that are other points of the family: per-token input, exponential link off."""


def edited(loss: MPOLoss, name: str) -> MPOLoss:
    return MPOLoss(loss.family, dataclasses.replace(loss.params, **EDITS[name]))


def treatments(loss: MPOLoss, factor: float) -> dict[str, object]:
    return {
        "as fitted": loss,
        "per-token (s = 1)": edited(loss, "per-token"),
        "exp link off": edited(loss, "exp-off"),
        f"calibrated (c = {factor:.3g})": CalibratedLoss(loss, factor),
        "dpo (β = 0.1)": MPOLoss("mpo", dpo_point(0.1)),
    }


def z_quantiles(loss, d: dict) -> list[float] | None:
    """5/50/95% quantiles of the MPO margin z at the reference (None for other losses)."""
    from mirrorpo.discovery.report import loss_inputs

    c = 1.0
    if isinstance(loss, CalibratedLoss):
        loss, c = loss.loss, loss.factor
    if not isinstance(loss, MPOLoss):
        return None
    ref = c * np.concatenate([d["ref_w"], d["ref_l"]])
    _, z = loss_inputs(loss.params, ref, ref, np.concatenate([d["len_w"], d["len_l"]]))
    return [float(q) for q in np.quantile(z - loss.params.margin, [0.05, 0.5, 0.95])]


def profile_rows(domains: dict[str, dict], losses: dict[str, dict[str, object]]) -> list[dict]:
    rows = []
    for domain, d in domains.items():
        for name, loss in losses[domain].items():
            batch = at_reference(d["ref_w"], d["ref_l"], d["len_w"], d["len_l"])
            rows.append({"domain": domain, "loss": name, **gradient_profile(loss, batch),
                         "z_quantiles": z_quantiles(loss, d)})
    return rows


def markdown(rows: list[dict], scales: dict[str, float]) -> str:
    def zq(r):
        return " / ".join(f"{q:.3g}" for q in r["z_quantiles"]) if r["z_quantiles"] else "—"

    out = ["| domain | loss | mean loss | max loss | median pull | max pull | ESS | z 5/50/95% |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    out += [f"| {r['domain']} | {r['loss']} | {r['loss_mean']:.3g} | {r['loss_max']:.3g} | "
            f"{r['pull_median']:.3g} | {r['pull_max']:.3g} | {r['ess']:.3f} | {zq(r)} |"
            for r in rows]
    out.append("")
    out += [f"- margin scale of {k}: median |ℓ_ref,w − ℓ_ref,l| = {v:.3g} nats"
            for k, v in scales.items()]
    return "\n".join(out) + "\n"


def train_check(loss_specs: dict[str, str], model: Path, pairs: Path, out: Path,
                steps: int, stem: str) -> list[dict]:
    """A few real LoRA steps per treatment; max logged loss and pre-clipping gradient norm."""
    rows = []
    for name, spec in loss_specs.items():
        run = out / (f"train-{name}" if spec == name else f"train-{stem}-{name}")
        if not (run / "log.csv").exists():
            cli = [sys.executable, "-c", "from mirrorpo.cli import main; main()"]
            subprocess.run([*cli, "llm", "train", "--data", str(pairs),
                            "--loss", spec, "--model", str(model), "--out", str(run), "--lora",
                            "--steps", str(steps), "--threads", "1", "--force"], check=True)
        log = [r for r in csv.DictReader((run / "log.csv").open()) if r.get("loss")]
        rows.append({"loss": name, "steps": len(log),
                     "max_loss": max(abs(float(r["loss"])) for r in log),
                     "max_grad_norm": max(float(r["grad_norm"]) for r in log)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loss", type=Path, required=True)
    ap.add_argument("--suite", type=Path, required=True, help="a suite dataset directory")
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--responses", type=Path, required=True, help="`llm data` responses.jsonl")
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-steps", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    loss = load_mpo(a.loss)
    cache = a.out / f"domains-{a.suite.name}-{a.prompts}.npz"  # the measured ℓ, reused
    if cache.exists():
        saved = np.load(cache, allow_pickle=False)
        suite, llm = ({k: saved[f"{dom}_{k}"] for k in KEYS} for dom in ("suite", "llm"))
    else:
        suite = suite_logps(a.suite)
        llm, pairs = llm_pairs(a.model, a.responses, a.prompts)
        (a.out / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
        np.savez(cache, **{f"{dom}_{k}": d[k] for dom, d in (("suite", suite), ("llm", llm))
                           for k in KEYS})
    scales = {"suite": margin_scale(suite["ref_w"], suite["ref_l"]),
              "SmolLM2": margin_scale(llm["ref_w"], llm["ref_l"])}
    factor = scales["suite"] / scales["SmolLM2"]
    losses = {"suite": treatments(loss, 1.0), "SmolLM2": treatments(loss, factor)}
    rows = profile_rows({"suite": suite, "SmolLM2": llm}, losses)
    result = {"loss": str(a.loss), "suite": str(a.suite), "prompts": a.prompts,
              "margin_scale": scales, "factor": factor, "profile": rows}
    if a.train_steps:
        path = a.out / "pairs.jsonl"
        specs = {"as-fitted": str(a.loss), "dpo": "dpo"}
        for name in EDITS:
            specs[name] = str(a.out / f"{a.loss.stem}-{name}.json")
            edited(loss, name).save(specs[name])
        result["train"] = train_check(specs, a.model, path, a.out, a.train_steps,
                                      a.loss.stem)
    (a.out / f"profile-{a.loss.stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(rows, scales)
    (a.out / f"profile-{a.loss.stem}.md").write_text(text)
    print(text)
    for r in result.get("train", []):
        print(r)


if __name__ == "__main__":
    main()
