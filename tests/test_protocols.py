"""Every pre-registered protocol in docs/protocols/ has the sections a verdict depends on."""

from pathlib import Path

import pytest

PROTOCOLS = Path(__file__).parent.parent / "docs" / "protocols"
SECTIONS = ("## Target", "## Meta-train pool", "## Budget", "## Meta-test",
            "## Primary comparison", "## Win rule", "## Amendments")


@pytest.mark.parametrize("path", sorted(p for p in PROTOCOLS.glob("*.md") if p.name != "README.md"),
                         ids=lambda p: p.name)
def test_protocol_has_every_section(path):
    text = path.read_text()
    missing = [s for s in SECTIONS if s not in text]
    assert not missing, f"{path.name} lacks {missing}"
