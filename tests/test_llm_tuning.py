"""The held-out validation/test split, loss grids and the tuning's choice, on hand-made inputs
(no model: these need neither TRL nor torch training)."""

import numpy as np
import pytest

from mirrorpo.config import ConfigError
from mirrorpo.llm.bench_summary import Unit, curve_markdown, curve_points
from mirrorpo.llm.config import LLMBenchConfig, LLMBenchTrainConfig
from mirrorpo.llm.prompts import (
    PROMPT_SETS,
    heldout_topic,
    prompt_split,
    select_split,
    split_heldout,
    split_topics,
)
from mirrorpo.llm.tuning import (
    best_point,
    budget_markdown,
    parse_grid,
    parse_grids,
    tuning_record,
)


@pytest.mark.parametrize("prompt_set", sorted(PROMPT_SETS))
def test_heldout_split_is_disjoint_complete_and_by_topic(prompt_set):
    templates, topics = PROMPT_SETS[prompt_set]
    _, held = prompt_split(prompt_set, 0)
    _, held_topics = split_topics(0, topics=topics)
    assert sorted({heldout_topic(p) for p in held}) == sorted(held_topics)  # topics recovered
    val, test = split_heldout(held)
    assert sorted(val + test) == sorted(held) and not set(val) & set(test)
    val_topics, test_topics = ({heldout_topic(p) for p in half} for half in (val, test))
    assert not val_topics & test_topics
    assert len(val_topics) == len(held_topics) // 2
    assert len(val) == len(val_topics) * len(templates)  # every template of a topic together
    assert [p for p in held if p in set(val)] == val  # the file's order kept
    assert split_heldout(held) == (val, test) and split_heldout(list(reversed(held)))[0] == \
        list(reversed(val))  # one split whatever the order
    assert select_split(held, "validation") == val and select_split(held, "test") == test
    assert select_split(held, "all") == held


def test_heldout_split_of_free_prompts_and_refusals():
    free = ["Say hi.", "Name a colour.", "Name a colour.", "Count to three."]
    assert heldout_topic("Say hi.") == "Say hi."  # no template: its own topic
    val, test = split_heldout(free)
    assert sorted(val + test) == sorted(free) and (free[1] in val) == (free[2] in val)
    with pytest.raises(ValueError, match="1 topic"):
        split_heldout(["Write one sentence about a cat.", "Describe a cat in a short sentence."])
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        select_split(free, "dev")


def test_bench_config_records_new_settings_only_when_set():
    base = dict(data="d", model="m", losses=("dpo",))
    old = LLMBenchConfig(**base).to_json(["dpo"])
    assert not {"seed_offset", "eval_split", "eval_steps"} & set(old)  # old benches resume
    cfg = LLMBenchConfig(**base, seed_offset=100, eval_split="test", eval_steps=[10, 20])
    rec = cfg.to_json(["dpo"])
    assert rec["seed_offset"] == 100 and rec["eval_split"] == "test"
    assert rec["eval_steps"] == [10, 20] and list(cfg.seed_range) == [100, 101, 102]
    with pytest.raises(ConfigError, match=r"eval_steps: each must be below .*steps \(40"):
        LLMBenchConfig(**base, eval_steps=(10, 40))
    with pytest.raises(ConfigError, match="eval_steps: increasing"):
        LLMBenchConfig(**base, eval_steps=(20, 10))
    with pytest.raises(ConfigError, match="eval_split: unknown value 'dev'"):
        LLMBenchConfig(**base, eval_split="dev")
    assert LLMBenchConfig(**base, train=LLMBenchTrainConfig(steps=3), eval_steps=(1, 2))


def test_parse_grid_expands_sweeps_and_cross_products():
    from mirrorpo.losses import LOSSES

    dpo = parse_grid("dpo")  # the registered sweep of the main hyper-parameter
    assert dpo.loss == "dpo" and dpo.specs == tuple(f"dpo:beta={v:g}"
                                                    for v in LOSSES["dpo"].sweep)
    g = parse_grid("dpo:beta=0.03|0.10|1")
    assert g.specs == ("dpo:beta=0.03", "dpo:beta=0.1", "dpo:beta=1") and g.loss == "dpo"
    assert [g.at_edge(i) for i in range(3)] == [True, False, True]
    c = parse_grid("cdpo:beta=0.1|0.3,label_smoothing=0.2")
    assert c.specs == ("cdpo:beta=0.1,label_smoothing=0.2", "cdpo:beta=0.3,label_smoothing=0.2")
    x = parse_grid("cdpo:beta=0.1|0.3|1,label_smoothing=0.1|0.2")
    assert len(x.specs) == 6 and x.swept == {"beta": [0.1, 0.3, 1.0],
                                             "label_smoothing": [0.1, 0.2]}
    one = parse_grid("dpo:beta=0.3")
    assert one.specs == ("dpo:beta=0.3",) and one.loss == "dpo" and not one.at_edge(0)
    assert parse_grid("runs/s/mean.json").specs == ("runs/s/mean.json",)
    f = parse_grid("runs/s/mean.json:beta=0.05|0.5")  # a loss file along its β axis
    assert f.loss == "runs/s/mean.json" and f.specs == ("runs/s/mean.json:beta=0.05",
                                                         "runs/s/mean.json:beta=0.5")
    assert parse_grid("pkg.mod:fn:beta=1|2").loss == "pkg.mod:fn"
    for bad, why in (("dpo:beta=0.1|x", "'x' is not a number"), ("dpo|ipo", "NAME:key="),
                     ("dpo:beta=1|1", "a value twice"), ("", "empty")):
        with pytest.raises(ConfigError, match=f"LLMTuneConfig.grid: .*{why}"):
            parse_grid(bad)
    with pytest.raises(ConfigError, match="loss 'dpo' given twice"):
        parse_grids(("dpo:beta=0.1|1", "dpo"))


def test_tuning_chooses_the_best_mean_of_the_criterion():
    """Seed 0 alone would choose β = 0.1, and the win rate would too; the mean reward over
    seeds and presets chooses β = 1."""
    rows = [  # label, seed, preset, reward, win rate
        ("dpo:beta=0.1", 0, "mixed", 0.9, 0.8), ("dpo:beta=0.1", 1, "mixed", 0.0, 0.8),
        ("dpo:beta=0.1", 0, "clean", 0.0, 0.8), ("dpo:beta=0.1", 1, "clean", 0.3, 0.8),
        ("dpo:beta=1", 0, "mixed", 0.5, 0.6), ("dpo:beta=1", 1, "mixed", 0.4, 0.6),
        ("dpo:beta=1", 0, "clean", 0.4, 0.6), ("dpo:beta=1", 1, "clean", 0.5, 0.6),
        ("ipo:beta=0.5", 0, "mixed", 0.1, 0.5), ("ipo:beta=0.5", 1, "mixed", 0.1, 0.5)]
    results = [(Unit(preset, label, label, seed), {"reward_mean": reward, "win_rate": win})
               for label, seed, preset, reward, win in rows]
    grids = [parse_grid("dpo:beta=0.1|1|10"), parse_grid("ipo:beta=0.5")]
    labels = {s: s for g in grids for s in g.specs}
    rec = tuning_record(grids, labels, results, "reward", steps=40)
    dpo = rec["dpo"]
    assert dpo["spec"] == "dpo:beta=1" and dpo["criterion"]["mean"] == pytest.approx(0.45)
    assert dpo["criterion"]["runs"] == 4 and dpo["criterion"]["low"] <= 0.45 <= \
        dpo["criterion"]["high"]
    assert not dpo["at_edge"] and dpo["grid_points"] == 3
    assert dpo["runs"] == 8 and dpo["optimizer_steps"] == 320  # β = 10 never ran
    assert [p["runs"] for p in dpo["grid"]] == [4, 4, 0] and dpo["grid"][2]["mean"] is None
    assert rec["ipo"]["spec"] == "ipo:beta=0.5" and rec["ipo"]["runs"] == 2
    by_win = tuning_record(grids, labels, results, "win_rate", steps=40)
    assert by_win["dpo"]["spec"] == "dpo:beta=0.1" and by_win["dpo"]["at_edge"]
    assert best_point([np.array([1.0]), np.array([1.0])]) == 0  # ties: the first
    table = budget_markdown({"criterion": "reward", "seeds": [0, 1], "steps": 40,
                             "losses": rec})
    assert "| dpo | 3 | 8 | 320 | dpo:beta=1 | 0.450 [" in table
    assert "| ipo | 1 | 2 | 80 | ipo:beta=0.5 | 0.100 [0.100, 0.100] | no |" in table


def test_curve_points_summarise_each_step_over_seeds():
    def unit(seed, curve):
        return (Unit("mixed", "dpo", "dpo", seed), {"curve": [
            {"step": s, "reward_mean": r} for s, r in curve]})

    results = [unit(0, [(5, 0.1), (10, 0.3)]), unit(1, [(5, 0.3), (10, 0.5)]),
               (Unit("mixed", "ipo", "ipo", 0), {"reward_mean": 0.2}),  # no curve: left out
               (Unit("clean", "dpo", "dpo", 0), {"curve": [{"step": 5, "reward_mean": 9.0}]})]
    pts = curve_points(results, "mixed")
    assert list(pts) == ["dpo"] and [s for s, _ in pts["dpo"]] == [5, 10]
    assert pts["dpo"][1][1].mean == pytest.approx(0.4) and pts["dpo"][1][1].runs == 2
    table = curve_markdown(pts, pts["dpo"][0][1], "mixed")
    assert "| loss | step 5 | step 10 |" in table and "| dpo | 0.200 [" in table
    assert table.count("| reference |") == 1 and curve_markdown({}, None, "mixed") == ""
