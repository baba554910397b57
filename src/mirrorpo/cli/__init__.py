"""The ``mirrorpo`` command line: thin commands over the library (mirrorpo.api); nothing in
the library imports it. Each command parses its options into the library's config dataclasses
(options generated from their fields, mirrorpo.cli.options), calls one API function and renders
what it returns."""

from __future__ import annotations

import click

from mirrorpo import __version__
from mirrorpo.cli.assets import experts, reference
from mirrorpo.cli.llm import llm
from mirrorpo.cli.runs import (
    bench_cmd,
    confirm_cmd,
    demo,
    meta_test_cmd,
    train_cmd,
    tune_cmd,
    verdicts_cmd,
)
from mirrorpo.cli.search import ablate_cmd, distill_cmd, losses_cmd, report_cmd, search_cmd
from mirrorpo.cli.suite import data, eval_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mirrorpo")
def main() -> None:
    """mirrorpo: preference-optimization objectives on a controlled MuJoCo suite.

    Start with `mirrorpo demo`. Every command has --help.
    """


for command in (experts, reference, data, eval_cmd, train_cmd, bench_cmd, tune_cmd, meta_test_cmd,
                search_cmd, report_cmd, ablate_cmd, distill_cmd, losses_cmd, demo, llm, confirm_cmd,
                verdicts_cmd):
    main.add_command(command)
