"""Tables the commands print: ladders, dataset cards, policy scores, training runs."""

from __future__ import annotations

from rich.table import Table

from mirrorpo.cli.common import console

LADDER_HEAD = ("level", "source", "env steps", "return", "score", "95% CI")


def markdown_table(head, rows) -> str:
    """A Markdown table from a header and rows of strings."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def ci_text(ci) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def ladder_rows(info) -> list[tuple[str, ...]]:
    """Rows (level, source, steps, return, score, CI) of the ladder, then the reference."""
    rows = []
    for lv in info.ladder:
        rows.append((str(lv["level"]), lv["source"], f"{lv['env_steps']:,}",
                     f"{lv['return_mean']:.1f}", f"{lv['score']:.1f}",
                     ci_text(lv["score_ci95"])))
    if info.reference:
        ref = info.reference
        rows.append(("ref", f"BC of level {ref['demonstrator_level']}", "",
                     f"{ref['return_sampled']:.1f}", f"{ref['score_sampled']:.1f}",
                     ci_text(ref["score_sampled_ci95"])))
    return rows


def print_ladder(env_name: str, root=None) -> None:
    from mirrorpo.assets import load_suite_info

    info = load_suite_info(env_name, root)
    table = Table(title=f"{env_name}: random {info.random_return:.1f}, "
                        f"expert {info.expert_return:.1f}")
    for col in LADDER_HEAD:
        table.add_column(col, justify="right")
    for row in ladder_rows(info):
        table.add_row(*row)
    console.print(table)


CARD_COLUMNS = (
    ("preset", lambda c: c["preset"]),
    ("pairs", lambda c: str(c["num_pairs"])),
    ("H", lambda c: str(c["horizon"])),
    ("agreement", lambda c: f"{c['properties']['label_agreement']:.3f}"),
    ("score chosen", lambda c: f"{c['properties']['mean_score_chosen']:.1f}"),
    ("score rejected", lambda c: f"{c['properties']['mean_score_rejected']:.1f}"),
    ("chosen per level",
     lambda c: " ".join(map(str, c["properties"]["count_per_level"]["chosen"]))),
    ("rejected per level",
     lambda c: " ".join(map(str, c["properties"]["count_per_level"]["rejected"]))),
    ("dropped",
     lambda c: str(c["properties"]["dropped_equal"] + c["properties"]["dropped_skipped"])),
    ("terminated", lambda c: f"{c['properties']['terminated_fraction']:.3f}"),
)


def cards_markdown(cards: list[dict]) -> str:
    """One Markdown table row per dataset card."""
    return markdown_table([name for name, _ in CARD_COLUMNS],
                          [[fn(c) for _, fn in CARD_COLUMNS] for c in cards])


def print_card(card: dict) -> None:
    p, t = card["properties"], card["teacher"]
    table = Table(title=f"{card['env']} · {card['preset']} · seed {card['seed']}",
                  show_header=False)
    table.add_column("property")
    table.add_column("value", justify="right")
    rows = [
        ("pairs × horizon", f"{card['num_pairs']} × {card['horizon']}"),
        ("teacher", f"T={t['temperature']:g}, ε={t['mistake_rate']:g}, "
                    f"γ={t['myopic_discount']:g}, mix={card['level_mix']}"),
        *([("overrides of the preset",
            ", ".join(f"{k}={v}" for k, v in card["overrides"].items()))]
          if card.get("overrides") else []),
        ("label agreement with true return", f"{p['label_agreement']:.3f}"),
        ("mean score chosen / rejected",
         f"{p['mean_score_chosen']:.1f} / {p['mean_score_rejected']:.1f}"),
        ("mean return chosen / rejected",
         f"{p['mean_return_chosen']:.1f} / {p['mean_return_rejected']:.1f}"),
        ("chosen per level", " ".join(map(str, p["count_per_level"]["chosen"]))),
        ("rejected per level", " ".join(map(str, p["count_per_level"]["rejected"]))),
        ("candidates / dropped equal / skipped",
         f"{p['candidates']} / {p['dropped_equal']} / {p['dropped_skipped']}"),
        ("mean segment length", f"{p['mean_segment_length']:.1f}"),
        ("terminated segments", f"{p['terminated_fraction']:.3f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


SCORE_HEAD = ("policy", "score, sampled [95% CI]", "score, mean action [95% CI]", "return")


def score_cells(score) -> tuple[str, str, str]:
    """(sampled, mean action, return) cells of a PolicyScore."""
    return (f"{score.sampled_mean:.1f} {ci_text(score.sampled_ci)}",
            f"{score.mean_action_mean:.1f} {ci_text(score.mean_action_ci)}",
            f"{score.sampled_return:.1f}")


def print_scores(names, scores, title) -> None:
    table = Table(title=title)
    for col in SCORE_HEAD:
        table.add_column(col, justify="right", no_wrap=True)
    for name, s in zip(names, scores, strict=True):
        table.add_row(name, *score_cells(s))
    console.print(table)


def print_train_run(run, title: str) -> None:
    """A training run's members; a failed member shows 'failed' and why, not a score."""
    table = Table(title=title)
    for col in SCORE_HEAD:
        table.add_column(col, justify="right", no_wrap=True)
    for m in run.members:
        if m.failed:
            table.add_row(m.name, f"[red]failed[/red]: {m.fail_reason}", "—", "—")
        else:
            table.add_row(m.name, *score_cells(m.score))
    console.print(table)
