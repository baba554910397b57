"""The LLM bench: every loss on every preset for N seeds, each unit trained (as ``train``) and
evaluated (as ``evaluate``, with the unit's seed as sampling seed) against the reference, on
the held-out prompts of ``eval_split`` (all, or the validation or test topic half).

An output directory holds config.json (the :class:`~mirrorpo.llm.config.LLMBenchConfig` with
the losses as recorded), ``reference/seed-K.json`` (the reference's judged samples, drawn once
per seed and shared by every unit of that seed), ``units/PRESET/LOSS/seed-K/`` (a training run
and its eval.json), ``ref_cache/`` (with ``precompute_ref``: the reference log-likelihoods of
each preset, computed by its first unit and shared by the others), summary.md / summary.csv
and plots/win_rate_PRESET.png and frontier_PRESET.png (reward against KL, each loss swept
over its hyper-parameter as one line). With ``eval_steps``, every unit is also evaluated at
those training steps, from inside the training (:func:`curve_callback`), and its eval.json
holds the ``curve`` (those steps and the last); plots/curve_PRESET.png and a curve table in
summary.md draw the judged reward against training step. A finished unit is never redone, so
an interrupted bench resumes with the same config; another config is refused, naming the
first setting that differs.

Several processes may run the same bench (or tuning) in one directory at once: start the same
command again in another shell, with ``--threads`` splitting the cores between them (a training
step on one thread leaves most of a second core idle). Each claims a unit with an exclusive lock
(``units/PRESET/LOSS/.seed-K.lock``, released when its process ends, however it ends) before it
trains it, skips the units others hold, and returns once every unit is finished, by whichever
process.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from mirrorpo.llm.bench_summary import METRICS, MetricSummary, plan_units, unit_label
from mirrorpo.llm.config import LLMBenchConfig
from mirrorpo.llm.evaluation import eval_metrics, heldout, judged_samples
from mirrorpo.llm.run import CONFIG_FILE, fit, set_threads
from mirrorpo.losses.resolve import resolve_loss
from mirrorpo.progress import Log, Progress, no_log, no_progress

EVAL_FILE = "eval.json"
REF_CACHE_DIR = "ref_cache"
POLL_SECONDS = 30.0
"""How often a process that has run out of unclaimed units looks for the others' results."""


@contextmanager
def unit_claim(udir: Path) -> Iterator[bool]:
    """Within the block, True when this process holds the unit ``udir``'s lock (a sibling
    ``.NAME.lock``), False when another process does. The lock is ``flock``'s: the kernel drops
    it when the holder exits or is killed, so a dead worker's unit is free again."""
    lock = udir.parent / f".{udir.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refuse_dropped_losses(cfg_path: Path, losses: list[str]) -> None:
    """A bench directory may gain losses (only their units train) but not lose any: a
    FileExistsError naming the saved losses that ``losses`` leaves out."""
    from mirrorpo.fileio import read_json

    if not cfg_path.is_file():
        return
    saved = read_json(cfg_path, "LLM bench config").get("losses", [])
    dropped = [x for x in saved if x not in losses]
    if dropped:
        raise FileExistsError(f"{cfg_path}: holds losses {dropped} that this bench leaves out; "
                              "a bench may gain losses, not lose them: give them too, or "
                              "choose another directory")


def bench(config: LLMBenchConfig, out, *, threads: int | None = None,
          progress: Progress = no_progress,
          log: Log = no_log) -> dict[tuple[str, str], dict[str, MetricSummary]]:
    """Run (or resume) the bench of ``config`` in ``out``; returns (preset, loss label) →
    metric → :class:`MetricSummary` (mean and 95% bootstrap CI over seeds).

    Checked before any model is loaded: every PRESET.jsonl and the held-out prompts of
    ``config.data``, the model directory, every loss (anything ``resolve_loss`` takes; a
    Python callable is recorded as ``python:LABEL``), and ``out`` (empty, new, or a bench of
    the same config)."""
    from mirrorpo.fileio import read_json, write_text_atomic
    from mirrorpo.llm.data import load_preferences
    from mirrorpo.llm.model import check_model_dir, load_model, offline
    from mirrorpo.outputs import check_output_dir, refuse_other_config, remove_stale_temps

    data_dir, out = Path(config.data), Path(out)
    for p in config.presets:
        if not (data_dir / f"{p}.jsonl").is_file():
            raise FileNotFoundError(f"LLMBenchConfig.presets: {data_dir / (p + '.jsonl')} does "
                                    "not exist")
    named = [resolve_loss(x) for x in config.losses]
    units = plan_units(list(config.presets), [(unit_label(nl), nl.record) for nl in named],
                       config.seeds, config.seed_offset)
    losses = {unit_label(nl): nl for nl in named}
    prompts, judge = heldout(data_dir, config.eval_split)
    check_model_dir(config.model)
    check_output_dir(out, CONFIG_FILE, "LLM bench", resume=True)
    record = config.to_json([nl.record for nl in named])
    cfg_path = out / CONFIG_FILE
    refuse_other_config(cfg_path, record, "LLM bench",
                        "other options are refused: give the same config to resume it",
                        ignore=("losses",))
    refuse_dropped_losses(cfg_path, record["losses"])
    data = {p: load_preferences(data_dir / f"{p}.jsonl") for p in config.presets}
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg_path, json.dumps(record, indent=1))
    offline()
    set_threads(threads)
    import torch

    reference, tok = load_model(config.model)
    gen = config.eval.generation()
    del gen["seed"]
    train_json = config.train_json()
    finished: dict[int, dict] = {}

    def train_unit(unit) -> dict:
        udir = unit.directory(out)
        if udir.exists():  # a unit cut off while being swapped in: start it again
            shutil.rmtree(udir)
        remove_stale_temps(udir)  # a killed run's temporary unit
        ref_side = reference_samples(out, reference, tok, prompts, judge, gen, unit.seed)
        torch.manual_seed(unit.seed)
        model, _ = load_model(config.model)
        unit_record = {"data": str(data_dir / f"{unit.preset}.jsonl"), "loss": unit.loss,
                       "loss_label": unit.label, "model": config.model, **train_json,
                       "seed": unit.seed, "pairs": len(data[unit.preset])}
        unit_gen = {**gen, "seed": unit.seed}

        def judge_policy(policy) -> dict:
            side = judged_samples(policy, reference, tok, prompts, judge, unit_gen)
            return eval_metrics(side, ref_side, prompts, unit_gen)

        curve = (curve_callback(config.eval_steps, judge_policy),) if config.eval_steps else ()
        trained, history, train_s = fit(model, tok, data[unit.preset], losses[unit.label],
                                        replace(config.train, seed=unit.seed),
                                        unit_record, udir, ref_cache=out / REF_CACHE_DIR,
                                        callbacks=curve,
                                        checkpoint=udir.parent / f".{udir.name}.checkpoint")
        t0 = time.time()
        metrics = {**judge_policy(trained.eval()),
                   "train_seconds": train_s, "eval_seconds": time.time() - t0,
                   "final_loss": history[-1].get("loss") if history else None}
        if curve:
            metrics["curve"] = curve[0].points + [curve_point(config.train.steps, metrics)]
            metrics["curve_eval_seconds"] = curve[0].seconds
        write_text_atomic(udir / EVAL_FILE, json.dumps(metrics, indent=1))
        log(f"{unit.preset} {unit.label} seed {unit.seed}: win rate "
            f"{metrics['win_rate']:.3f} (LC {metrics['lc_win_rate']:.3f}), KL "
            f"{metrics['kl_to_reference']:.2f}; train {train_s:.0f}s, eval "
            f"{metrics['eval_seconds']:.0f}s")
        return metrics

    def done() -> list:
        return [(units[i], finished[i]) for i in sorted(finished)]

    with progress("llm bench units", len(units)) as advance:
        pending, told = list(range(len(units))), False
        while pending:
            held = []
            for i in pending:
                eval_file = units[i].directory(out) / EVAL_FILE
                with unit_claim(units[i].directory(out)) as mine:
                    if eval_file.is_file():
                        finished[i] = read_json(eval_file, "unit metrics")
                    elif mine:
                        finished[i] = train_unit(units[i])
                        render(out, done(), list(config.presets))
                    else:
                        held.append(i)
                        continue
                advance(1)
            pending = held
            if pending:
                if not told:
                    log(f"waiting for {len(pending)} unit(s) that another process is training")
                    told = True
                time.sleep(POLL_SECONDS)
    return render(out, done(), list(config.presets))


def curve_point(step: int, metrics: dict) -> dict:
    """A point of a unit's curve: the step, the summarised metrics (``METRICS``) and the
    per-prompt judged rewards (paired comparisons along the curve)."""
    return {"step": step, **{m: metrics[m] for m in METRICS}, "rewards": metrics["rewards"]}


def curve_callback(steps: tuple[int, ...], judge_policy):
    """A ``TrainerCallback`` that, after each optimiser step in ``steps``, appends
    ``curve_point(step, judge_policy(model))`` to its ``points`` with the model in eval mode;
    torch's RNG state and the model's mode are restored afterwards, so training goes on as
    if nothing happened. ``seconds``: the time spent evaluating."""
    import torch
    from transformers import TrainerCallback

    class CurveCallback(TrainerCallback):
        def __init__(self):
            self.points: list[dict] = []
            self.seconds = 0.0

        def checkpoint_state(self) -> dict:
            return {"points": self.points, "seconds": self.seconds}

        def restore(self, st: dict) -> None:
            self.points, self.seconds = st["points"], st["seconds"]

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step not in steps:
                return
            t0, training = time.time(), model.training
            with torch.random.fork_rng():
                model.eval()
                self.points.append(curve_point(state.global_step, judge_policy(model)))
            model.train(training)
            self.seconds += time.time() - t0

    return CurveCallback()


def reference_samples(out: Path, reference, tok, prompts, judge, gen: dict, seed: int) -> dict:
    """The reference's judged held-out samples for an evaluation seed (cached in
    OUT/reference/seed-K.json)."""
    from mirrorpo.fileio import read_json, write_text_atomic

    path = out / "reference" / f"seed-{seed}.json"
    if path.is_file():
        return read_json(path, "reference samples")
    side = judged_samples(reference, reference, tok, prompts, judge, {**gen, "seed": seed})
    side["reward_mean"] = sum(side["rewards"]) / len(side["rewards"])
    side["length_mean"] = sum(side["lengths"]) / len(side["lengths"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(side))
    return side


def render(out: Path, done: list, presets: list[str]) -> dict:
    """summary.md/.csv, win-rate plots and reward-vs-KL frontiers from the finished units;
    returns their summary."""
    from mirrorpo import plots
    from mirrorpo.fileio import read_json, write_csv_atomic, write_text_atomic
    from mirrorpo.llm.bench_summary import (
        csv_rows,
        curve_markdown,
        curve_points,
        frontier_points,
        markdown_summary,
        reference_summary,
        summarise,
    )

    if not done:
        return {}
    summary = summarise(done)
    refs = [read_json(p, "reference samples")
            for p in sorted((out / "reference").glob("seed-*.json"))]
    reference = reference_summary(refs)
    ref_reward = reference.get("reward_mean")
    curves = {p: curve_points(done, p) for p in presets}
    write_text_atomic(out / "summary.md", "# LLM bench\n\nMean [95% bootstrap CI] over "
                      "training seeds; win rates against the reference's samples of the same "
                      "seed, judged by the reward.\n\n"
                      + markdown_summary(summary, reference, presets, done)
                      + "".join(curve_markdown(curves[p], ref_reward, p) for p in presets))
    write_csv_atomic(out / "summary.csv", csv_rows(summary))
    (out / "plots").mkdir(exist_ok=True)
    for preset in presets:
        bars = {lab: (m["win_rate"].mean, m["win_rate"].low, m["win_rate"].high)
                for (p, lab), m in summary.items() if p == preset}
        if bars:
            plots.interval_bars(bars, "win rate against the reference (mean, 95% CI)",
                                f"SmolLM2 held-out prompts: {preset}",
                                out / "plots" / f"win_rate_{preset}.png", line=0.5)
            ref = None if ref_reward is None else ref_reward.mean
            plots.frontier(frontier_points(summary, preset), ref,
                           f"reward against KL, {preset} (mean, 95% CI)",
                           out / "plots" / f"frontier_{preset}.png")
            if curves[preset]:
                plots.interval_curves(curves[preset], ref, "optimiser steps", "judged reward",
                                      f"reward against training length, {preset} (mean, 95% "
                                      "CI over seeds)", out / "plots" / f"curve_{preset}.png")
    return summary
