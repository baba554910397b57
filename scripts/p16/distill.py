"""Apply the distillation rule of docs/protocols/distilled-suite.md to the round's ablations.

    python scripts/p16/distill.py     # after `python scripts/p16/followups.py --run`
    python scripts/p16/distill.py --figure PNG   # only draw the knock-out costs

Reads the knock-out rows of every loss the round's rule ablated (mirrorpo.confirm.
ablation_choice at m = 36, as followups.py), applies mirrorpo.distill.distill, and writes
runs/p16/distilled/rule.md (the evidence and what was chosen) and runs/p16/distilled/
distilled.json (the loss at β = 0.1, the centre of DPO's grid; `fitted_on` lists every draw
of the round, pools and test draws, so that `confirm` refuses them). Nothing is trained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from followups import CONFIRMS, FAMILY_SIZE, ROOT, R, rows_out  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))
from mirrorpo.confirm import ablation_choice, candidate_file  # noqa: E402
from mirrorpo.distill import distill_runs, read_ablated, report  # noqa: E402


def round_fingerprints() -> tuple[str, ...]:
    """The fingerprint of every dataset of the round under runs/p16 (pools, tuning and test
    draws) and every search's recorded fitness draws, not the distilled loss's own test draws
    (runs/p16/distilled)."""
    own = ROOT / R / "distilled"
    cards = {json.loads(c.read_text())["fingerprint"]
             for c in (ROOT / R).rglob("card.json") if own not in c.parents}
    # and the searches' pool draws as recorded, some of them lost with the old machine
    fitted = {f for st in (ROOT / R).rglob("state.json")
              for f in json.loads(st.read_text()).get("fitness_fingerprints", [])}
    return tuple(sorted(cards | fitted))


def figure(pairs: list[tuple[Path, str]], path: Path) -> None:
    """The knock-out costs of every ablated loss, one panel each (mirrorpo.plots.
    knockout_panels); supported terms (Holm over the loss's knock-outs) filled."""
    from mirrorpo.plots import knockout_panels

    panels = {}
    for d, f in pairs:
        a = read_ablated(d, f)
        name = f"{Path(f).parent.parent.name} ({a.loss.family})"
        panels[name] = {t: (c.mean, c.ci[0], c.ci[1], t in a.supported)
                        for t, c in a.costs.items()}
    knockout_panels(panels, "what each term is worth: score lost when it is dropped "
                    "(original − variant, paired, 95% CI)", path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--figure", type=Path, help="only draw the knock-out costs to this PNG")
    figure_path = ap.parse_args().figure
    os.chdir(ROOT)  # the confirmations record their loss files relative to the repository
    confirms = list(CONFIRMS)
    missing = [str(d) for d in confirms if not (ROOT / d / "scores.json").is_file()]
    if missing:
        sys.exit("waiting for the round: " + ", ".join(missing))
    chosen = ablation_choice([ROOT / d for d in confirms], family_size=FAMILY_SIZE)
    # the knock-out rows are read where they trained: the confirmation or its replicate
    pairs = [(rows_out(Path(d).relative_to(ROOT)), candidate_file(d, label))
             for d, label in chosen]
    if figure_path is not None:
        figure(pairs, figure_path)
        return
    result = distill_runs(pairs, also_fitted=round_fingerprints())
    out = ROOT / R / "distilled"
    out.mkdir(parents=True, exist_ok=True)
    text = ("# The distillation rule's output\n\nAblated losses: "
            + ", ".join(f for _, f in pairs) + "\n\n" + report(result))
    (out / "rule.md").write_text(text)
    if result.loss is not None:
        result.loss.save(out / "distilled.json")
    print(text)


if __name__ == "__main__":
    main()
