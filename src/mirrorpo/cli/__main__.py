"""``python -m mirrorpo.cli``."""

from mirrorpo.cli import main

main()
