"""Search reports: from a tiny synthetic search run (no training) to report.md, a standalone
report.html and PNGs, via the API and the CLI."""

import re

import numpy as np
import pytest
from click.testing import CliRunner

from mirrorpo.cli import main
from mirrorpo.discovery.report import (
    ES_CURVES_PNG,
    FUNCTIONS_PNG,
    report_html,
    report_markdown,
    write_report,
)
from mirrorpo.discovery.run import SearchConfig, load_result, read_state, run_search
from mirrorpo.losses.mpo import formula, from_vector

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GENERATIONS = 3


def sphere(candidates, generation):
    """−‖x − 0.3‖² per row, (P, dim) → (P,); member 0 of generation 1 fails (NaN)."""
    fitness = -((candidates - 0.3) ** 2).sum(axis=1)
    if generation == 1:
        fitness[0] = np.nan
    return fitness


@pytest.fixture(scope="module", params=["mpo", "ta-mpo"])
def run_dir(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    config = SearchConfig(family=request.param, popsize=4, generations=GENERATIONS, seed=1,
                          fitness={"kind": "sphere", "target": 0.3})
    run_search(config, out, sphere, resume=False)
    return out


@pytest.fixture(scope="module")
def report_dir(run_dir):
    out = write_report(run_dir)
    assert out == run_dir / "report"
    return out


def test_write_report_files(run_dir, report_dir):
    out = report_dir
    for name in (ES_CURVES_PNG, FUNCTIONS_PNG):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    md = (out / "report.md").read_text()
    rows = [line for line in md.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert [r.split("|")[1].strip() for r in rows] == [str(g + 1) for g in range(GENERATIONS)]
    assert rows[1].rstrip().endswith("| 1 |")  # one failed member in generation 2
    state = read_state(run_dir)
    family = state["config"]["family"]
    res = load_result(run_dir)
    assert formula(from_vector(res.mean, family), family) in md
    assert formula(from_vector(res.best.vector, family), family) in md
    assert f"generation {res.best.generation + 1}" in md


def test_html_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"<img[^>]+src=\"(?!data:)", page)
    assert ".png\"" not in page and "<script" not in page and "http" not in page
    assert "<table>" in page and "<pre>" in page


def test_meta_test_block_and_missing_image():
    state = read_state_like()
    md = report_markdown(state, ["x.png"], meta_test="| loss | score |\n|---|---|\n| a | 1 |")
    assert "## Meta-test" in md and "| a | 1 |" in md
    page = report_html(md, {})
    assert "missing image: x.png" in page and "<td>a</td>" in page
    assert "&lt;&amp;&gt;" in page and "<&>" not in page


def read_state_like():
    """A minimal hand-made state of one generation and no best candidate."""
    vector = [float(v) for v in SearchConfig().x0()]
    return {"config": SearchConfig(fitness={"k": "<&>"}).to_json(), "generations_done": 1,
            "mean_vector": vector, "best": None,
            "history": [{"generation": 0, "best": "nan", "mean": "nan", "median": "nan",
                         "failed": 4}]}


def test_cli_report(run_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "report.html").stat().st_size > 0


def test_cli_report_without_state(tmp_path):
    res = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "no state.json" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_anchor_panel_only_when_a_loss_uses_anchors(tmp_path):
    from matplotlib.image import imread

    from mirrorpo.discovery.report import learned_functions
    from mirrorpo.losses.mpo import MPOParams, dpo_point, to_vector

    dpo = {"dpo": to_vector(dpo_point(), "mpo")}
    anchored = dpo | {"apo": to_vector(MPOParams(anchor_sigmoid=1.0), "mpo")}
    plain = imread(learned_functions("mpo", dpo, tmp_path / "a.png"))
    wide = imread(learned_functions("mpo", anchored, tmp_path / "b.png"))
    assert wide.shape[1] == pytest.approx(plain.shape[1] * 3 / 2, rel=0.02)  # 3 panels, not 2


# ----------------------------------------------------------------------------- observed inputs


def test_input_range_is_min_max_of_finite_inputs():
    from mirrorpo.discovery.report import input_range

    assert input_range(np.array([-3.0, 2.0]), None, np.array([[np.nan, -np.inf], [7.5, 0]])) \
        == (-3.0, 7.5)
    assert input_range(np.array([4.0])) == (4.0, 4.0)
    with pytest.raises(ValueError, match="no finite inputs"):
        input_range(None, np.array([np.nan]))


def test_loss_inputs_are_those_of_the_loss():
    """With only the log σ link (m = 0, α = 0) the loss is −log σ(z): z is the loss's own."""
    import torch

    from mirrorpo.discovery.report import loss_inputs
    from mirrorpo.losses.mpo import MPOParams, mpo_loss
    from mirrorpo.losses.registry import PreferenceBatch

    p = MPOParams(beta=0.3, length_power=0.6, ref_switch=0.4, w_logodds=0.5, w_exp=0.2,
                  w_sp1=0.7, c1=-3.0)
    gen = torch.Generator().manual_seed(0)
    logps = -torch.rand(2, 8, generator=gen, dtype=torch.float64) * 50 - 0.1
    ref = -torch.rand(2, 8, generator=gen, dtype=torch.float64) * 50 - 0.1
    lengths = torch.randint(1, 30, (2, 8), generator=gen).double()
    u, z = loss_inputs(p, logps.reshape(-1), ref.reshape(-1), lengths.reshape(-1))
    batch = PreferenceBatch(logps[0], logps[1], ref[0], ref[1], lengths[0], lengths[1],
                            torch.tensor(0.5))
    np.testing.assert_allclose(-np.log(1 / (1 + np.exp(-z))), mpo_loss(batch, p).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(u, (logps / lengths**0.6).reshape(-1).numpy(), rtol=1e-12)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A TA-MPO search run whose fitness trains 20 steps (the inputs figure trains so)."""
    from mirrorpo.training.population import TrainConfig

    out = tmp_path_factory.mktemp("short") / "run"
    train = TrainConfig(steps=20, batch_pairs=4, learning_rate=3e-2).to_json()
    config = SearchConfig(family="ta-mpo", popsize=4, generations=2, seed=1,
                          fitness={"kind": "sphere", "target": 0.3, "train": train})
    run_search(config, out, sphere, resume=False)
    return out


@pytest.fixture
def tiny_data(tiny_assets, tmp_path):
    from mirrorpo.api import DataConfig, make_dataset

    path = tmp_path / "data"
    make_dataset(DataConfig(preset="noisy-20", pairs=12, horizon=5, seed=0), path)
    return path


def test_inputs_figure_draws_the_observed_range(short_run, tiny_data, tmp_path):
    from mirrorpo.discovery.report import inputs_figure, observed_inputs

    inputs = observed_inputs(read_state(short_run), tiny_data)
    assert list(inputs) == ["final mean", "best so far"]
    for v in inputs.values():
        assert v["steps"] == 20
        assert v["u"]["start"].shape == (24,) and v["z"]["start"].shape == (12,)
        assert v["u"]["end"] is not None and not np.array_equal(v["u"]["end"],
                                                                v["u"]["start"])
    ranges = inputs_figure(inputs, tmp_path / "inputs.png")
    assert (tmp_path / "inputs.png").read_bytes().startswith(PNG_MAGIC)
    for key in ("u", "z"):
        values = np.concatenate([v[key][w] for v in inputs.values() for w in ("start", "end")])
        assert ranges[key] == (values.min(), values.max())


def test_report_with_and_without_data(short_run, tiny_data, tmp_path):
    from mirrorpo.discovery.report import INPUTS_PNG

    run_dir = short_run
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r0")])
    assert res.exit_code == 0, res.output
    assert "`--data DATASET`" in (tmp_path / "r0" / "report.md").read_text()
    assert not (tmp_path / "r0" / INPUTS_PNG).exists()
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r1"),
                                    "--data", str(tiny_data), "--threads", "1"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "r1"
    assert (out / INPUTS_PNG).read_bytes().startswith(PNG_MAGIC)
    md = (out / "report.md").read_text()
    assert f"![loss_inputs]({INPUTS_PNG})" in md and "| final mean |" in md
    assert "--data DATASET" not in md
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 3
