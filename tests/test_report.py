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
