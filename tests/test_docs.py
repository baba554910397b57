"""The docs' Python examples run as written (on the shipped Hopper assets, tiny budgets)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


@pytest.mark.e2e
@pytest.mark.parametrize("page", ["api.md", "tutorial-own-loss.md"])
def test_page_code_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(page)
    assert blocks, f"{page} has no Python example"
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page}[{i}]", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    if page == "api.md":  # every member of the four losses, then the reference, in the table
        for label in ("dpo/seed0", "orpo:beta=0.5/seed1", "mpo:apo/seed0", "margin_dpo/seed1",
                      "reference"):
            assert f"| {label} |" in out
        assert (tmp_path / "runs/api-demo/run/run.json").is_file()
    else:  # the user's loss is a row of every preset's table, beside the swept baselines
        assert out.count("tempered_dpo") == 4 and out.count("dpo:beta=") == 2
        assert (tmp_path / "runs/own-loss/bench/summary.md").is_file()


def test_api_page_is_about_thirty_lines():
    assert len(python_blocks("api.md")[0].splitlines()) <= 32
    assert len(python_blocks("tutorial-own-loss.md")[0].splitlines()) <= 25


def api_table_functions() -> list[str]:
    """The functions of docs/api.md's table: `mirrorpo.mod.fn(` paths and bare `fn(` names,
    a bare name after a path in one cell belonging to that path's module."""
    found = []
    for line in (DOCS / "api.md").read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| job"):
            continue
        cell = line.split("|")[2]
        module = "mirrorpo"
        for path in re.findall(r"`((?:mirrorpo\.)?[\w.]+)\(", cell):
            if "." in path:
                module, _, name = path.rpartition(".")
            else:
                name = path
            found.append(f"{module}:{name}")
    return found


def test_api_table_names_exist():
    import importlib

    names = api_table_functions()
    assert "mirrorpo.confirm:round_table" in names and "mirrorpo:make_dataset" in names
    missing = [n for n in names
               if not callable(getattr(importlib.import_module(n.split(":")[0]),
                                       n.split(":")[1], None))]
    assert not missing, f"docs/api.md names what the library lacks: {missing}"
