"""Successive halving: the trainer drops members at rungs and the survivors end bit for bit as
without pruning; the search ranks candidates at a rung, keeps the better half, orders pruned
candidates below survivors, records both, and resumes."""

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from mirrorpo.assets import load_reference
from mirrorpo.cli import main
from mirrorpo.config import ConfigError
from mirrorpo.data.dataset import load_dataset
from mirrorpo.discovery.fitness import (
    FitnessConfig,
    FitnessContext,
    FitnessSetup,
    InProcess,
    halve,
    halving_fitness,
    make_fitness,
)
from mirrorpo.discovery.run import STATE_FILE, SearchConfig, load_result, read_state
from mirrorpo.discovery.strategies import centered_ranks
from mirrorpo.evaluation import NormalisedScorer
from mirrorpo.losses.mpo import dpo_point, to_vector
from mirrorpo.training.population import Pruning, TrainConfig, train_population
from tests.conftest import random_stack
from tests.test_population import LOSSES, tiny_data

CFG = TrainConfig(steps=12, batch_pairs=4, learning_rate=1e-2, log_every=1)
MEMBERS = [*LOSSES, *LOSSES]  # six members, three loss objects
SEEDS = [0, 1, 2, 3, 4, 5]


def _train(pruning=None, cfg=CFG):
    ref = random_stack(11, 3, 1, hidden=(32, 16), seed=4)
    return train_population(ref, tiny_data(n=40, h=30, seed=2), MEMBERS, SEEDS, cfg,
                            pruning=pruning)


@pytest.mark.parametrize("skip_padding", [True, False])
def test_survivors_are_bit_identical_to_an_unpruned_run(skip_padding):
    cfg = replace(CFG, skip_padding=skip_padding)
    seen = []

    def keep(rung):
        seen.append((rung.steps, rung.members.tolist(), rung.stack.size))
        return {4: [0, 2, 3, 5], 8: [2, 5]}[rung.steps]

    full = _train(cfg=cfg)
    with_rungs = _train(Pruning((4, 8), keep), cfg)
    at4 = _train(cfg=replace(cfg, snapshot_steps=(4, 8)))
    assert seen == [(4, list(range(6)), 6), (8, [0, 2, 3, 5], 4)]
    assert with_rungs.steps_trained.tolist() == [8, 4, 12, 8, 4, 12]
    assert full.steps_trained.tolist() == [12] * 6
    assert with_rungs.failed.tolist() == full.failed.tolist() == [False] * 6
    pruned, base = with_rungs.policy.to_stack(), full.policy.to_stack()
    for m, steps in enumerate(with_rungs.steps_trained):
        want = base if steps == 12 else at4.snapshots[int(steps)]
        for a, b in zip(pruned.weights + (pruned.log_std,), want.weights + (want.log_std,),
                        strict=True):
            np.testing.assert_array_equal(a[m], b[m])
    # logged curves: survivors as unpruned, dropped members NaN once past their last step
    loss, ref_loss = np.array(with_rungs.log.loss), np.array(full.log.loss)
    np.testing.assert_array_equal(loss[:, [2, 5]], ref_loss[:, [2, 5]])
    for m, stop in ((1, 4), (0, 8)):
        assert np.isnan(loss[stop:, m]).all() and not np.isnan(loss[:stop, m]).any()


def test_pruning_cuts_the_member_steps():
    res = _train(Pruning((3, 6, 9), lambda rung: rung.members[: -(-len(rung.members) // 2)]))
    # 6 members to step 3, 3 to step 6, 2 to step 9, 1 to step 12
    assert res.steps_trained.tolist() == [12, 9, 6, 3, 3, 3]
    assert res.steps_trained.sum() == 6 * 3 + 3 * 3 + 2 * 3 + 1 * 3 < 6 * 12


def test_pruning_refuses_bad_rungs_and_keeps():
    with pytest.raises(ValueError, match="rungs in"):
        _train(Pruning((12,), lambda rung: rung.members))
    with pytest.raises(ValueError, match="keep must return some of the members"):
        _train(Pruning((3,), lambda rung: [7]))


# ----------------------------------------------------------------------------- search fitness


def test_halve_keeps_the_better_half_of_candidates_with_all_their_members():
    candidate = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    score = np.array([5, 7, 9, 1, 2, np.nan, 8, 8, 6, 6], dtype=float)
    # means 6, 5, nan (worst), 8, 6: keep ⌈5/2⌉ = 3 → 3, then 0 and 4 tied at 6 (both kept)
    assert halve(candidate, score).tolist() == [True, True, False, False, False, False,
                                                True, True, True, True]
    # a tie at the cut goes to the lower candidate index
    assert halve(np.arange(4), np.array([1.0, 2, 2, 0])).tolist() == [False, True, True, False]


def test_halving_fitness_ranks_dropped_candidates_below_survivors():
    score = np.array([40.0, 90.0, 10.0, 50.0, -np.inf, 95.0, 20.0])
    steps = np.array([12, 4, 12, 8, 4, 8, 12])
    f = halving_fitness(score, steps)
    np.testing.assert_array_equal(f[steps == 12], score[steps == 12])  # survivors as scored
    order = np.lexsort((score, steps))  # (steps, score) lexicographic, worst first
    assert f[order[0]] == -np.inf and (np.diff(f[order[1:]]) > 0).all()
    assert f[4] == -np.inf and f[3] < f[5] < f[2] and f[1] < f[3]
    ranks = centered_ranks(f)
    assert ranks[[0, 2, 6]].min() > ranks[[1, 3, 4, 5]].max()
    np.testing.assert_array_equal(halving_fitness(score, np.full(7, 12)), score)


def test_halving_rungs_are_checked_with_one_line_errors(tmp_path):
    fit = FitnessConfig(data=("d",), train=TrainConfig(steps=12), halving_rungs=(3, 6))
    assert FitnessConfig.from_json(fit.to_json()) == fit
    assert "halving_rungs" not in FitnessConfig(data=("d",)).to_json()  # off: as before
    old = {k: v for k, v in fit.to_json().items() if not k.startswith("halving")}
    assert FitnessConfig.from_json(old).halving_rungs == ()
    for rungs in ((6, 3), (3, 3), (0, 6), (3, 12)):
        with pytest.raises(ConfigError, match=r"^FitnessConfig\.halving_rungs: increasing"):
            FitnessConfig(data=("d",), train=TrainConfig(steps=12), halving_rungs=rungs)
    with pytest.raises(ConfigError, match="one dataset only"):
        FitnessConfig(data=("a", "b"), halving_rungs=(3,))
    runner = CliRunner()
    for rungs, flag in (("5,2", "--halving-rungs"), ("3,x", "--halving-rungs")):
        res = runner.invoke(main, ["search", "--data", str(tmp_path / "ds"), "--steps", "8",
                                   "--halving-rungs", rungs, "--out", str(tmp_path / "s")])
        assert res.exit_code == 2 and flag in res.output, res.output
        assert "FitnessConfig" not in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s").exists()


class _Elsewhere:
    """A backend that is not this process."""

    workers = 1

    def map(self, vectors, shards):
        raise AssertionError("never called")


def test_survivors_get_the_fitness_they_would_have_without_halving(tiny_assets, tmp_path):
    data = tmp_path / "ds"
    res = CliRunner().invoke(main, ["data", "make", "--pairs", "16", "--horizon", "5",
                                    "--out", str(data)])
    assert res.exit_code == 0, res.output
    setup = FitnessSetup("mpo", fitness_seeds=2, train=TrainConfig(steps=6, batch_pairs=4),
                         episodes=2)
    ctx = FitnessContext(setup, load_reference("hopper"), (load_dataset(data).arrays,),
                         NormalisedScorer.for_env("hopper", episodes=2, mean_action=False))
    x0 = to_vector(dpo_point(), "mpo")
    x = x0 + 0.3 * np.random.default_rng(0).standard_normal((6, x0.size))
    plain = make_fitness(ctx, InProcess(ctx))(x, 0)
    halved_ctx = replace(ctx, setup=replace(setup, halving_rungs=(2, 4), halving_episodes=2))
    out = make_fitness(halved_ctx, InProcess(halved_ctx))(x, 0)
    full = out.steps == 6
    assert sorted(out.steps.tolist()) == [2, 2, 2, 4, 6, 6] and np.ptp(plain) > 0
    np.testing.assert_array_equal(out.score[full], plain[full])
    np.testing.assert_array_equal(out.fitness, halving_fitness(out.score, out.steps))
    with pytest.raises(ConfigError, match="local backend"):
        make_fitness(halved_ctx, _Elsewhere())(x, 0)


@pytest.mark.e2e
def test_a_search_with_halving_runs_records_and_resumes(tiny_assets, tmp_path):
    runner = CliRunner()
    data = tmp_path / "ds"
    res = runner.invoke(main, ["data", "make", "--pairs", "16", "--horizon", "5",
                               "--out", str(data)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "search"
    args = ["search", "--data", str(data), "--popsize", "6", "--generations", "2",
            "--steps", "6", "--batch-pairs", "4", "--episodes", "2", "--fitness-seeds", "2",
            "--halving-rungs", "2,4", "--halving-episodes", "2", "--out", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    state = read_state(out)
    assert state["config"]["fitness"]["halving_rungs"] == [2, 4]
    for gen in state["history"]:
        steps = np.array(gen["steps"])
        # 6 candidates to step 2, 3 to step 4, 2 to step 6
        assert sorted(steps.tolist()) == [2, 2, 2, 4, 6, 6]
        fitness = np.array([float(v) for v in gen["fitness"]])
        score = np.array([float(v) for v in gen["score"]])
        np.testing.assert_array_equal(fitness[steps == 6], score[steps == 6])
        assert fitness[steps == 6].min() > fitness[steps < 6].max()
        assert gen["best"] == fitness[steps == 6].max()  # stats over full-length candidates
        assert gen["mean"] == fitness[steps == 6].mean()
    assert state["best"]["fitness"] in [h["best"] for h in state["history"]]
    res = runner.invoke(main, [*args, "--resume"])  # nothing left: replays, same record
    assert res.exit_code == 0, res.output
    assert json.loads((out / STATE_FILE).read_text())["history"] == state["history"]
    result = load_result(out)
    assert result.history[0].steps.tolist() == state["history"][0]["steps"]
    more = [a if a != "2,4" else "2" for a in args] + ["--resume"]
    res = runner.invoke(main, more)  # another halving setting: a different search
    assert res.exit_code == 2 and "different" in res.output
    res = runner.invoke(main, [*args[:-2], "--backend", "ray", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "local backend" in res.output
    assert SearchConfig.from_json(state["config"]).fitness.halving_episodes == 2
