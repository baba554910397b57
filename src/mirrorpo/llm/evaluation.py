"""Judging a trained model against the reference on held-out prompts, and writing its
responses to a prompt file (AlpacaEval's ``model_outputs``).

:func:`evaluate` samples one response per held-out prompt from the policy and one from the
reference (same seed), judges both with the data directory's judge and reports win rate,
length-controlled win rate, mean reward and KL to the reference (mirrorpo.llm.metrics).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mirrorpo.llm.config import LLMEvalConfig, LLMGenerateConfig
from mirrorpo.llm.run import load_trained, set_threads, trained_model_dir
from mirrorpo.progress import Progress, no_progress

HELDOUT_FILE = "heldout.json"


def heldout(data_dir, split: str = "all"):
    """(held-out prompts of ``split``, JudgeConfig) of a ``make_data`` directory; ``split``:
    all, or the validation or test topic half (mirrorpo.llm.prompts.split_heldout)."""
    from mirrorpo.fileio import read_json
    from mirrorpo.llm.judge import JudgeConfig
    from mirrorpo.llm.prompts import select_split

    path = Path(data_dir) / HELDOUT_FILE
    held = read_json(path, "held-out prompt file")
    try:
        prompts = select_split(held["prompts"], split)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return prompts, JudgeConfig(**held["settings"]["judge"])


def judge_responses(reference, tok, prompts: list[str], responses: list[str], judge,
                    batch_size: int):
    """Judge terms of each response, with its summed log-likelihood and token count under the
    reference (the judge's fluency input is their ratio)."""
    from mirrorpo.llm.generate import response_logps
    from mirrorpo.llm.judge import reward_terms

    sums, counts = response_logps(reference, tok, prompts, responses, batch_size=batch_size)
    mean_logp = (sums / counts.clamp(min=1)).tolist()
    terms = [reward_terms(y, lp, judge) for y, lp in zip(responses, mean_logp, strict=True)]
    return terms, sums, counts


def judged_samples(model, reference, tok, prompts: list[str], judge, gen: dict,
                   progress=None) -> dict:
    """One sampled response per prompt from ``model``, judged: responses, rewards, sentiments,
    token lengths, and log π(y|x) under the model and the reference (lists, JSON-ready)."""
    from mirrorpo.llm.generate import response_logps, sample_responses

    responses = [r[0] for r in sample_responses(model, tok, prompts, n=1, progress=progress,
                                                **gen)]
    terms, ref_lp, lengths = judge_responses(reference, tok, prompts, responses, judge,
                                             gen["batch_size"])
    own_lp = ref_lp if model is reference else response_logps(
        model, tok, prompts, responses, batch_size=gen["batch_size"])[0]
    return {"responses": responses, "rewards": [t["reward"] for t in terms],
            "sentiments": [t["sentiment"] for t in terms], "lengths": lengths.tolist(),
            "logp": own_lp.tolist(), "reference_logp": ref_lp.tolist()}


def eval_metrics(pol: dict, ref: dict, prompts: list[str], gen: dict) -> dict:
    """Win rate, LC win rate, mean reward and KL of the policy's judged samples against the
    reference's (see mirrorpo.llm.metrics)."""
    import numpy as np

    from mirrorpo.llm.metrics import kl_estimate, length_controlled_win_rate, win_rate

    r_pol, r_ref = np.array(pol["rewards"]), np.array(ref["rewards"])
    len_pol, len_ref = np.array(pol["lengths"], float), np.array(ref["lengths"], float)
    return {
        "prompts": len(prompts), "n": 1, **gen,
        "win_rate": win_rate(r_pol, r_ref),
        "lc_win_rate": length_controlled_win_rate(r_pol, r_ref, len_pol, len_ref),
        "reward_mean": float(r_pol.mean()), "reference_reward_mean": float(r_ref.mean()),
        "sentiment_mean": float(np.mean(pol["sentiments"])),
        "kl_to_reference": kl_estimate(np.array(pol["logp"]), np.array(pol["reference_logp"])),
        "length_mean": float(len_pol.mean()), "reference_length_mean": float(len_ref.mean()),
        "rewards": r_pol.tolist(),  # per held-out prompt: head-to-head win rates between runs
        "examples": [{"prompt": p, "policy": a, "reference": b} for p, a, b in
                     list(zip(prompts, pol["responses"], ref["responses"], strict=True))[:5]]}


def evaluate(run, reference, data_dir, config: LLMEvalConfig | None = None, out=None, *,
             split: str = "all", threads: int | None = None,
             progress: Progress = no_progress) -> dict:
    """Metrics of run directory ``run`` (None: the reference against itself) against the
    reference model directory ``reference`` on the held-out prompts of ``data_dir`` (``split``:
    all, or the validation or test topic half); written as JSON to ``out`` when given
    (replaced if it exists); ``config`` None: the defaults. Inputs are checked before any
    model is loaded."""
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.model import check_model_dir, load_model
    from mirrorpo.outputs import check_output_file

    if out is not None:
        check_output_file(out, force=True)
    prompts, judge = heldout(data_dir, split)
    check_model_dir(reference)
    if run is not None:
        trained_model_dir(run)
    set_threads(threads)
    ref_model, tok = load_model(reference)
    policy = ref_model if run is None else load_trained(run, reference)
    t0 = time.time()
    gen = (config or LLMEvalConfig()).generation()
    with progress("sampling held-out responses", 2 * len(prompts)) as advance:
        ref_side = judged_samples(ref_model, ref_model, tok, prompts, judge, gen, advance)
        pol_side = judged_samples(policy, ref_model, tok, prompts, judge, gen, advance)
    metrics = {"run": None if run is None else str(run), "split": split,
               **eval_metrics(pol_side, ref_side, prompts, gen),
               "eval_seconds": time.time() - t0}
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(out), json.dumps(metrics, indent=1))
    return metrics


def read_prompts(prompts) -> list[str]:
    """Prompts from a JSON file (or a list): strings, or objects with an 'instruction' (the
    AlpacaEval evaluation set's format); ValueError naming the file and the item."""
    from mirrorpo.fileio import read_json

    where = "prompts"
    if isinstance(prompts, str | Path):
        where, prompts = str(prompts), read_json(Path(prompts), "prompt file")
    if not isinstance(prompts, list) or not prompts:
        raise ValueError(f"{where}: must hold a non-empty JSON list")
    texts = [it if isinstance(it, str) else (it.get("instruction") if isinstance(it, dict)
                                             else None) for it in prompts]
    bad = next((i for i, p in enumerate(texts) if not isinstance(p, str)), None)
    if bad is not None:
        raise ValueError(f"{where}: item {bad} is neither a string nor an object with an "
                         "'instruction'")
    return texts


def generate_outputs(run, reference, prompts, config: LLMGenerateConfig | None = None,
                     out=None, *, name: str | None = None, force: bool = False,
                     progress: Progress = no_progress) -> list[dict]:
    """Responses of run directory ``run`` (None: the reference model directory ``reference``
    itself) to ``prompts`` (a JSON file or a list, see :func:`read_prompts`), as AlpacaEval's
    ``{instruction, output, generator}`` records (generator: ``name``, or the run's directory
    name); written as JSON to ``out`` when given (an existing file only with ``force``);
    ``config`` None: the defaults."""
    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.generate import sample_responses
    from mirrorpo.llm.model import check_model_dir, load_model, load_tokenizer
    from mirrorpo.outputs import check_output_file

    config = config or LLMGenerateConfig()
    if out is not None:
        check_output_file(out, force=force)
    texts = read_prompts(prompts)
    check_model_dir(reference)
    if run is not None:
        trained_model_dir(run)
    policy, tok = (load_model(reference) if run is None
                   else (load_trained(run, reference), load_tokenizer(reference)))
    generator = name or Path(run if run is not None else reference).name
    with progress("generating", len(texts)) as advance:
        outputs = sample_responses(policy, tok, texts, n=1, max_new_tokens=config.max_new_tokens,
                                   temperature=config.temperature, seed=config.seed,
                                   batch_size=config.batch_size, progress=advance)
    records = [{"instruction": p, "output": o[0], "generator": generator}
               for p, o in zip(texts, outputs, strict=True)]
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(out), json.dumps(records, indent=1, ensure_ascii=False))
    return records
