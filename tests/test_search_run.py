"""Search run directories: exact JSON floats, resume after an exception or a SIGKILL equals an
uninterrupted run, clashing runs are refused, every generation leaves valid files."""

import inspect
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mirrorpo.discovery.run import (
    BEST_FILE,
    MEAN_FILE,
    STATE_FILE,
    SearchConfig,
    decode_floats,
    encode_floats,
    load_result,
    run_search,
    start_from_file,
)
from mirrorpo.discovery.strategies import STRATEGIES
from mirrorpo.losses.mpo import load_mpo, param_names


def sphere(candidates, generation, sleep_s=0.0):
    """−‖x − 0.5‖² per row (P, dim) → (P,), member generation % P failing (NaN).

    Self-contained: its source is pasted into the subprocess script below.
    """
    import time

    import numpy as np

    time.sleep(sleep_s)
    fitness = -((candidates - 0.5) ** 2).sum(axis=1)
    fitness[generation % len(fitness)] = np.nan
    return fitness


class Stop(Exception):
    pass


def stop_at(generation):
    def fitness_fn(candidates, g):
        if g == generation:
            raise Stop
        return sphere(candidates, g)

    return fitness_fn


def config(strategy="openai-es", **changes) -> SearchConfig:
    return SearchConfig(**{"strategy": strategy, "family": "mpo", "start": "dpo", "popsize": 8,
                           "generations": 6, "seed": 3, "fitness": {"kind": "sphere"},
                           **changes})


def files(d) -> dict[str, str]:
    return {name: (d / name).read_text() for name in (STATE_FILE, BEST_FILE, MEAN_FILE)}


def assert_same_result(a, b):
    assert len(a.history) == len(b.history)
    for ga, gb in zip(a.history, b.history, strict=True):
        np.testing.assert_array_equal(ga.mean, gb.mean)
        np.testing.assert_array_equal(ga.fitness, gb.fitness)
    np.testing.assert_array_equal(a.best.vector, b.best.vector)
    assert (a.best.fitness, a.best.generation) == (b.best.fitness, b.best.generation)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(np.array(a.stats), np.array(b.stats))


def test_floats_round_trip_exactly_through_json():
    values = np.array([0.1, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, np.nan, np.inf,
                       -np.inf, -2.5e-17])
    back = decode_floats(json.loads(json.dumps(encode_floats(values), allow_nan=False)))
    np.testing.assert_array_equal(back, values)
    assert np.signbit(back[2])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_resume_after_an_exception_equals_an_uninterrupted_run(tmp_path, strategy):
    cfg = config(strategy)
    full = run_search(cfg, tmp_path / "full", sphere, resume=False)
    with pytest.raises(Stop):
        run_search(cfg, tmp_path / "cut", stop_at(3), resume=False)
    assert json.loads((tmp_path / "cut" / STATE_FILE).read_text())["generations_done"] == 3
    logs, ticks = [], []
    resumed = run_search(cfg, tmp_path / "cut", sphere, resume=True, log=logs.append,
                         progress=ticks.append)
    assert_same_result(resumed, full)
    assert files(tmp_path / "cut") == files(tmp_path / "full")
    assert_same_result(load_result(tmp_path / "cut"), full)
    assert "3 of 6 generations done" in logs[0] and len(logs) == 4 and ticks == [1] * 6
    assert full.best.fitness == max(s.best for s in full.stats) > full.stats[0].best


def test_every_generation_leaves_valid_files(tmp_path):
    cfg = config(family="ta-mpo", start="orpo")
    seen = []

    def checking(candidates, g):
        if g > 0:  # what generation g − 1 left behind
            state = json.loads((tmp_path / STATE_FILE).read_text())
            assert state["generations_done"] == len(state["history"]) == g
            assert state["config"] == cfg.to_json()
            assert state["formula"].startswith(("L = −ρ(τ)·g(z)", "L = ρ(τ)·(−g(z)"))
            best, mean = load_mpo(tmp_path / BEST_FILE), load_mpo(tmp_path / MEAN_FILE)
            assert best.family == mean.family == "ta-mpo"
            np.testing.assert_array_equal(mean.vector, decode_floats(state["mean_vector"]))
            np.testing.assert_array_equal(best.vector, decode_floats(state["best"]["vector"]))
            assert state["history"][-1]["fitness"][(g - 1) % 8] == "nan"
            seen.append(g)
        return sphere(candidates, g)

    result = run_search(cfg, tmp_path, checking, resume=False)
    assert seen == [1, 2, 3, 4, 5]
    assert result.mean.shape == (len(param_names("ta-mpo")),)
    assert all(s.failed == 1 for s in result.stats)


def test_a_clashing_run_is_refused(tmp_path):
    run_search(config(generations=2), tmp_path, sphere, resume=False)
    with pytest.raises(FileExistsError, match="already holds a search") as err:
        run_search(config(generations=2), tmp_path, sphere, resume=False)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(FileExistsError, match="holds a different search") as err:
        run_search(config(generations=2, seed=4), tmp_path, sphere, resume=True)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
    assert "seed: 3 (saved) vs 4 (given)" in str(err.value)  # names the option that differs


def test_resume_of_a_finished_run_returns_its_result(tmp_path):
    cfg = config(generations=3)
    done = run_search(cfg, tmp_path, sphere, resume=False)
    again = run_search(cfg, tmp_path, stop_at(0), resume=True)  # evaluates nothing
    assert_same_result(again, done)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="strategy: unknown value 'sgd'"):
        config("sgd")
    with pytest.raises(ValueError, match="unknown option"):
        config(strategy_options={"sigma0": 0.1})
    with pytest.raises(ValueError, match="even"):
        config(popsize=7)


SCRIPT = """\
import functools
import json
import sys

from mirrorpo.discovery.run import SearchConfig, run_search

{sphere}

config = SearchConfig.from_json(json.loads(sys.argv[2]))
run_search(config, sys.argv[1], functools.partial(sphere, sleep_s=0.1), resume=False)
"""


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    cfg = config("cma-es", generations=20)
    script = tmp_path / "search.py"
    script.write_text(SCRIPT.format(sphere=inspect.getsource(sphere)))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(out), json.dumps(cfg.to_json())])
    try:
        deadline, done = time.monotonic() + 60, 0
        while done < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            if (out / STATE_FILE).exists():
                done = json.loads((out / STATE_FILE).read_text())["generations_done"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 2 <= json.loads((out / STATE_FILE).read_text())["generations_done"] < 20
    resumed = run_search(cfg, out, sphere, resume=True)
    full = run_search(cfg, tmp_path / "full", sphere, resume=False)
    assert_same_result(resumed, full)
    assert files(out) == files(tmp_path / "full")


def test_a_start_from_a_loss_file_is_saved_in_the_config(tmp_path):
    first = run_search(config(generations=2), tmp_path / "first", sphere, resume=False)
    start, vector = start_from_file(tmp_path / "first" / BEST_FILE, "ta-mpo")
    cfg = config(family="ta-mpo", start=start, start_vector=vector, generations=2)
    np.testing.assert_array_equal(cfg.x0()[:len(first.best.vector) - 1],
                                  first.best.vector[:-1])  # the MPO coordinates before α
    assert "start_vector" not in config().to_json()  # older runs' configs still match
    assert SearchConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    result = run_search(cfg, tmp_path / "second", sphere, resume=False)
    np.testing.assert_array_equal(result.history[0].mean, cfg.x0())
    (tmp_path / "first" / BEST_FILE).write_text("{}")  # resume never rereads the file
    again = run_search(cfg, tmp_path / "second", sphere, resume=True)
    assert_same_result(again, result)
    with pytest.raises(ValueError, match="unknown loss family"):
        start_from_file(tmp_path / "first" / BEST_FILE, "mpo")
    with pytest.raises(ValueError, match="expects"):
        config(start="x.json", start_vector=[0.0, 1.0])


def test_fitness_fingerprints_are_recorded_and_a_changed_dataset_refuses_resume(tmp_path):
    fps = ("0123456789abcdef", "fedcba9876543210")
    cfg = config(generations=2)
    with pytest.raises(Stop):
        run_search(cfg, tmp_path, stop_at(1), resume=False, fitted_on=fps)
    assert json.loads((tmp_path / STATE_FILE).read_text())["fitness_fingerprints"] == list(fps)
    for name in (BEST_FILE, MEAN_FILE):
        assert json.loads((tmp_path / name).read_text())["fitted_on"] == list(fps)
        assert load_mpo(tmp_path / name).fitted_on == fps
    with pytest.raises(FileExistsError, match="fitness datasets now hold other contents"):
        run_search(cfg, tmp_path, sphere, resume=True, fitted_on=fps[::-1])
    assert len(run_search(cfg, tmp_path, sphere, resume=True, fitted_on=fps).history) == 2
    plain = tmp_path / "plain"  # no fingerprints given: loss files exactly as before
    run_search(cfg, plain, sphere, resume=False)
    assert "fitness_fingerprints" not in json.loads((plain / STATE_FILE).read_text())
    assert "fitted_on" not in json.loads((plain / MEAN_FILE).read_text())
    assert load_mpo(plain / MEAN_FILE).fitted_on == ()


def test_a_search_saved_before_a_rounding_option_resumes_with_the_old_arithmetic(tmp_path):
    """A state.json whose train config lacks stack_losses (saved before it existed) resumes
    from today's default config, and keeps the arithmetic it began with; a config that differs
    in anything else is still refused."""
    from dataclasses import replace

    from mirrorpo.discovery.fitness import FitnessConfig
    from mirrorpo.discovery.run import ARITHMETIC, read_state, recorded_arithmetic
    from mirrorpo.training.population import TrainConfig

    fitness = FitnessConfig(data=(str(tmp_path / "data"),), train=TrainConfig(steps=20))
    cfg = config(generations=4, fitness=fitness)
    old = replace(cfg, fitness=replace(fitness, train=replace(fitness.train, stack_losses=False)))
    out = tmp_path / "run"
    with pytest.raises(Stop):
        run_search(old, out, stop_at(2), resume=False)
    state = json.loads((out / STATE_FILE).read_text())
    del state["config"]["fitness"]["train"]["stack_losses"]  # as saved before the field
    (out / STATE_FILE).write_text(json.dumps(state))
    given = recorded_arithmetic(cfg, read_state(out)["config"])
    assert [getattr(given.fitness.train, n) for n in ARITHMETIC] == [True, False]
    assert given.fitness.train.steps == 20 and cfg.fitness.train.stack_losses
    assert len(run_search(given, out, sphere, resume=True).history) == 4
    assert read_state(out)["config"]["fitness"]["train"]["stack_losses"] is False
    with pytest.raises(FileExistsError, match="stack_losses"):  # the new default is another run
        run_search(cfg, out, sphere, resume=True)
