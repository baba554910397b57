"""A report of a search run directory: ES curves, the learned functions, a Markdown summary and
one self-contained HTML page (images embedded as base64 data URIs).

Rendered from the saved ``state.json``: nothing is evaluated. Generations are numbered from 1
here, as in the ``mirrorpo search`` log (state.json counts from 0). Given a dataset, the report
also draws f and g over the inputs that dataset produces (:func:`observed_inputs`): under the
reference, and after training each of the final mean and the best loss for the search's
training steps on one seed (one member each, the trainer's own functions).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path

import numpy as np

from mirrorpo.discovery.run import decode_floats, read_state
from mirrorpo.fileio import write_text_atomic
from mirrorpo.losses.family import get_family
from mirrorpo.plots import _plt, save_figure

REPORT_DIR = "report"
ES_CURVES_PNG = "es_curves.png"
FUNCTIONS_PNG = "learned_functions.png"
INPUTS_PNG = "loss_inputs.png"
INPUTS_SEED = 0
"""Training seed of the members behind the inputs figure."""


# ----------------------------------------------------------------------------- state access


def _float(value: float | str) -> float:
    return float(value)  # "nan", "inf", "-inf" are the encoded non-finite values


def history_stats(state: dict) -> dict[str, np.ndarray]:
    """Per-generation arrays (G,) of "best", "mean", "median", "failed" from a state.json."""
    hist = state["history"]
    return {k: np.array([_float(g[k]) for g in hist], dtype=np.float64)
            for k in ("best", "mean", "median", "failed")}


def final_vectors(state: dict) -> dict[str, np.ndarray]:
    """{"final mean": (dim,), "best so far": (dim,)}; the latter only once a best exists."""
    out = {"final mean": decode_floats(state["mean_vector"])}
    if state["best"] is not None:
        out["best so far"] = decode_floats(state["best"]["vector"])
    return out


# ----------------------------------------------------------------------------- figures


def es_curves(state: dict, path: str | Path) -> Path:
    """Best / mean / median fitness and the best so far per generation, written as a PNG."""
    plt = _plt()
    s = history_stats(state)
    x = np.arange(1, len(s["best"]) + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(x, s["best"], marker="o", ms=3, label="best")
    ax.plot(x, s["mean"], marker="o", ms=3, label="mean")
    ax.plot(x, s["median"], marker="o", ms=3, label="median")
    ax.plot(x, np.fmax.accumulate(s["best"]), color="0.3", ls="--", label="best so far")
    cfg = state["config"]
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (finite members)")
    ax.set_title(f"{cfg['family']} · {cfg['strategy']} · P={cfg['popsize']}", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return Path(path)


def learned_functions(family: str, vectors: dict[str, np.ndarray], path: str | Path) -> Path:
    """The learned functions of each named vector of ``family``, as a PNG: one panel per
    entry of the family's ``plot_panels`` (for MPO: mirror map, link, where used the anchor A;
    for TA-MPO also the α/ρ schedules)."""
    plt = _plt()
    panels = get_family(family).plot_panels(vectors)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.0), squeeze=False)
    for ax, (title, draw) in zip(axes[0], panels, strict=True):
        ax.set_title(title, fontsize=8)
        draw(ax)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"learned {family} loss", fontsize=10)
    save_figure(fig, path)
    return Path(path)


# ----------------------------------------------------------------------------- observed inputs


def loss_inputs(p, logps, ref_logps, lengths) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of f and g of the MPO loss ``p`` (an ``MPOParams``) on a dataset's segments
    (SegmentTable order: N chosen, then N rejected; tensors (2N,)), as float64 arrays:

        u = ℓ / |y|^s of every segment under the policy (2N,),
        z = β (Δ_w − Δ_l) of every pair (N,),  Δ = f(u) − r·f(u_ref)

    with s, r clipped to [0, 1] and β ≥ 10⁻⁶ as ``mpo_loss`` uses them (the margin m is
    subtracted inside g, as on the learned-functions figure)."""
    import torch

    from mirrorpo.losses.mpo import mirror_map

    s = min(max(p.length_power, 0.0), 1.0)
    r = min(max(p.ref_switch, 0.0), 1.0)
    lengths = torch.as_tensor(lengths, dtype=torch.float64)
    u = torch.as_tensor(logps, dtype=torch.float64) / lengths**s
    delta = mirror_map(p, u)
    if r > 0:
        delta = delta - r * mirror_map(p, torch.as_tensor(ref_logps, dtype=torch.float64)
                                       / lengths**s)
    n = len(u) // 2
    z = max(p.beta, 1e-6) * (delta[:n] - delta[n:])
    return u.numpy(), z.numpy()


def input_range(*samples: np.ndarray | None) -> tuple[float, float]:
    """(min, max) over every finite value of the samples (None skipped): the x-range of a
    column of the inputs figure. ValueError when there is none."""
    values = np.concatenate([np.ravel(x) for x in samples if x is not None] or [np.empty(0)])
    values = values[np.isfinite(values)]
    if not len(values):
        raise ValueError("no finite inputs to draw")
    return float(values.min()), float(values.max())


def observed_inputs(state: dict, data_dir: str | Path) -> dict[str, dict]:
    """Name ("final mean", "best so far") → {"params", "u", "z"} with "u" and "z" each
    {"start": inputs under the reference, "end": after training that loss from the reference
    on ``data_dir`` for the search's training settings (its fitness ``train``, else
    TrainConfig's defaults) on seed ``INPUTS_SEED``, or None if that member failed}, and
    "steps": the steps trained."""
    import torch

    from mirrorpo.assets import load_reference
    from mirrorpo.data.dataset import load_dataset
    from mirrorpo.losses.mpo import from_vector
    from mirrorpo.training.population import (
        SegmentTable,
        TrainConfig,
        reference_logps,
        train_population,
    )

    family = state["config"]["family"]
    vectors = final_vectors(state)
    params = {k: from_vector(v, family) for k, v in vectors.items()}
    ds = load_dataset(data_dir)
    raw = state["config"].get("fitness", {}).get("train")
    cfg = TrainConfig.from_json(raw) if isinstance(raw, dict) else TrainConfig()
    reference = load_reference(ds.card["env"])
    dtype = torch.float32
    table = SegmentTable.from_arrays(ds.arrays, dtype)
    log_res = float(np.log(cfg.action_resolution))
    ref = reference_logps(reference, table, log_res, dtype)
    names = list(params)
    losses = [get_family(family).loss(vectors[k]) for k in names]
    res = train_population(reference, ds.arrays, losses, [INPUTS_SEED] * len(names), cfg,
                           dtype=dtype)
    trained = res.policy.to_stack()
    out = {}
    for i, k in enumerate(names):
        start = loss_inputs(params[k], ref, ref, table.lengths)
        end = None
        if not res.failed[i]:
            end = loss_inputs(params[k], reference_logps(trained.select(i), table, log_res,
                                                         dtype), ref, table.lengths)
        out[k] = {"params": params[k], "steps": cfg.steps,
                  "u": {"start": start[0], "end": None if end is None else end[0]},
                  "z": {"start": start[1], "end": None if end is None else end[1]}}
    return out


def inputs_figure(inputs: dict[str, dict], path: str | Path) -> dict[str, tuple[float, float]]:
    """f over the observed u and g over the observed z (top), and beneath, per loss, the
    histograms of those inputs at the start and end of training; written as a PNG. Returns
    each column's plotted x-range ("u", "z"): :func:`input_range` of its inputs (widened by
    ±½ only when all inputs are equal)."""
    import torch

    from mirrorpo.losses.mpo import _input_name, link, mirror_map

    plt = _plt()
    names = list(inputs)
    fig, axes = plt.subplots(1 + len(names), 2, figsize=(10, 2.6 * (1 + len(names))),
                             sharex="col", squeeze=False)
    ranges = {}
    for col, key in enumerate(("u", "z")):
        lo, hi = input_range(*(x for k in names for x in inputs[k][key].values()))
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        grid = torch.linspace(lo, hi, 400, dtype=torch.float64)
        top = axes[0][col]
        if key == "u":
            top.plot(grid.numpy(), grid.numpy(), color="0.5", ls="--", lw=1, label="DPO: f = u")
        else:
            top.plot(grid.numpy(), torch.nn.functional.logsigmoid(grid).numpy(), color="0.5",
                     ls="--", lw=1, label="DPO: log σ(z)")
            top.set_yscale("symlog", linthresh=1)
        for i, k in enumerate(names):
            p = inputs[k]["params"]
            y = mirror_map(p, grid) if key == "u" else link(p, grid)
            top.plot(grid.numpy(), y.numpy(), color=f"C{i}", label=k)
            ax = axes[1 + i][col]
            bins = np.linspace(lo, hi, 41)
            ax.hist(inputs[k][key]["start"], bins=bins, color="0.6", alpha=0.7,
                    label="start (reference)")
            end = inputs[k][key]["end"]
            if end is not None:
                ax.hist(end, bins=bins, color=f"C{i}", alpha=0.6,
                        label=f"end ({inputs[k]['steps']} steps, seed {INPUTS_SEED})")
            what = _input_name(p) if key == "u" else "z = β(Δ_w − Δ_l), pairs"
            failed = "" if end is not None else " (training failed: no end inputs)"
            ax.set_title(f"{k}: {what}{failed}", fontsize=8)
            ax.set_ylabel("count", fontsize=8)
            ax.legend(fontsize=7)
        top.set_title("mirror map f over the observed u" if key == "u" else
                      "link g over the observed z (symlog y)", fontsize=9)
        top.legend(fontsize=7)
        top.grid(alpha=0.3)
        top.set_xlim(lo, hi)
        axes[-1][col].set_xlabel(key)
        ranges[key] = tuple(float(v) for v in top.get_xlim())
    fig.suptitle("learned loss over the inputs the data produce", fontsize=10)
    save_figure(fig, path)
    return ranges


def _inputs_lines(inputs: dict[str, dict] | None, data: str | None) -> list[str]:
    if inputs is None:
        return ["Add `--data DATASET` (e.g. one of the search's fitness datasets) to draw f and "
                "g over the inputs that dataset produces, at the start and end of training "
                f"(`{INPUTS_PNG}`).", ""]
    steps = next(iter(inputs.values()))["steps"]
    rows = [f"Inputs of f and g on `{data}`: under the reference (start) and after training "
            f"each loss for {steps} steps on seed {INPUTS_SEED} (end), min … max.", "",
            "| loss | u, start | u, end | z, start | z, end |", "|---|---|---|---|---|"]
    for k, v in inputs.items():
        cells = []
        for key in ("u", "z"):
            for when in ("start", "end"):
                x = v[key][when]
                cells.append("failed" if x is None else
                             "{} … {}".format(*(_num(t) for t in input_range(x))))
        rows.append(f"| {k} | " + " | ".join(cells) + " |")
    return [*rows, ""]


# ----------------------------------------------------------------------------- Markdown


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _summary_lines(state: dict) -> list[str]:
    cfg = state["config"]
    return [
        f"- strategy: `{cfg['strategy']}` (options `{json.dumps(cfg['strategy_options'])}`)",
        f"- family: `{cfg['family']}`; start: `{cfg['start']}`; seed: {cfg['seed']}",
        f"- population: {cfg['popsize']}; generations done: {state['generations_done']} "
        f"of {cfg['generations']}",
    ]


def _generation_table(state: dict) -> list[str]:
    s = history_stats(state)
    rows = ["| generation | best | mean | median | failed |", "|---:|---:|---:|---:|---:|"]
    for g in range(len(s["best"])):
        rows.append(f"| {g + 1} | {_num(s['best'][g])} | {_num(s['mean'][g])} | "
                    f"{_num(s['median'][g])} | {int(s['failed'][g])} |")
    return rows


def _formula_lines(state: dict) -> list[str]:
    family = get_family(state["config"]["family"])
    vectors = final_vectors(state)
    best = state["best"]
    if best is None:
        lines = ["- best-so-far fitness: none (no candidate had a finite fitness)"]
    else:
        lines = [f"- best-so-far fitness: {_num(_float(best['fitness']))}, "
                 f"generation {best['generation'] + 1}"]
    for name, v in vectors.items():
        lines.append(f"- formula, {name}: `{family.formula(v)}`")
    return lines


def report_markdown(state: dict, images: list[str], meta_test: str | None = None,
                    inputs: list[str] | None = None) -> str:
    """The report as Markdown: config, per-generation table, best / final formulas, images.

    ``images`` are file names linked relative to the report; ``meta_test`` an optional Markdown
    block (a meta-test table) placed after the formulas; ``inputs`` lines on the observed
    inputs (:func:`_inputs_lines`) placed before the images.
    """
    cfg = state["config"]
    lines = [f"# Search report: {cfg['family']} · {cfg['strategy']}", "",
             "## Run", "", *_summary_lines(state), "", "Fitness setup:", "", "```json",
             json.dumps(cfg["fitness"], indent=1, sort_keys=True), "```", "",
             "## Generations", "", *_generation_table(state), "",
             "## Result", "", *_formula_lines(state), ""]
    if meta_test:
        lines += ["## Meta-test", "", meta_test.strip(), ""]
    lines += ["## Figures", "", *(inputs or [])]
    lines += [f"![{Path(name).stem}]({name})\n" for name in images]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- HTML

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
code,pre{background:#f6f6f6;font-size:.9em}pre{padding:.6em;overflow-x:auto}
img{max-width:100%;display:block;margin:1em 0}h1{font-size:1.5em}h2{font-size:1.2em;
border-bottom:1px solid #ddd}"""

_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def _inline(text: str) -> str:
    """Escaped text with `code` spans and **bold**."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, body = _cells(lines[0]), [_cells(x) for x in lines[2:]]
    rows = ["<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    rows += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _image(alt: str, name: str, images: dict[str, bytes]) -> str:
    if name not in images:
        return f"<p>[missing image: {html.escape(name)}]</p>"
    data = base64.b64encode(images[name]).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _blocks(markdown: str) -> list[list[str]]:
    """Split into blocks: fenced code, tables, lists, single lines."""
    blocks: list[list[str]] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("```")),
                     len(lines))
            blocks.append(lines[i:j + 1])
            i = j + 1
            continue
        for prefix in ("|", "- "):
            if line.startswith(prefix):
                j = i
                while j < len(lines) and lines[j].startswith(prefix):
                    j += 1
                blocks.append(lines[i:j])
                i = j
                break
        else:
            if line.strip():
                blocks.append([line])
            i += 1
    return blocks


def _block_html(block: list[str], images: dict[str, bytes]) -> str:
    first = block[0]
    if first.startswith("```"):
        return "<pre>" + html.escape("\n".join(block[1:-1])) + "</pre>"
    if first.startswith("|"):
        return _table(block)
    if first.startswith("- "):
        return "<ul>\n" + "\n".join(f"<li>{_inline(x[2:])}</li>" for x in block) + "\n</ul>"
    if m := re.match(r"^(#{1,6}) (.*)$", first):
        n = len(m.group(1))
        return f"<h{n}>{_inline(m.group(2))}</h{n}>"
    if m := _IMAGE.match(first.strip()):
        return _image(m.group(1), m.group(2), images)
    return f"<p>{_inline(first)}</p>"


def report_html(markdown: str, images: dict[str, bytes], title: str = "mirrorpo report") -> str:
    """One static HTML page from the report's Markdown (the subset ``report_markdown`` writes:
    headings, lists, pipe tables, fenced code, image lines); images (file name → PNG bytes)
    are embedded as data URIs, so the page stands alone."""
    body = "\n".join(_block_html(b, images) for b in _blocks(markdown))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- files


def write_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 meta_test: str | None = None, data: str | Path | None = None) -> Path:
    """Write report.md, report.html and the PNGs of the run in ``run_dir`` into ``out_dir``
    (default ``run_dir/report``); returns that directory. With ``data`` (a dataset directory)
    also the inputs figure (:func:`observed_inputs`, :func:`inputs_figure`). Raises
    FileNotFoundError without a state.json."""
    state = read_state(run_dir)
    inputs = None if data is None else observed_inputs(state, data)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    es_curves(state, out / ES_CURVES_PNG)
    learned_functions(state["config"]["family"], final_vectors(state), out / FUNCTIONS_PNG)
    names = [ES_CURVES_PNG, FUNCTIONS_PNG]
    if inputs is not None:
        inputs_figure(inputs, out / INPUTS_PNG)
        names.append(INPUTS_PNG)
    md = report_markdown(state, names, meta_test,
                         _inputs_lines(inputs, None if data is None else str(data)))
    write_text_atomic(out / "report.md", md)
    images = {n: (out / n).read_bytes() for n in names}
    title = f"mirrorpo search report: {Path(run_dir).resolve().name}"
    write_text_atomic(out / "report.html", report_html(md, images, title))
    return out
