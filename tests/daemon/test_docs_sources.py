"""Every YAML config block in docs/sources.md is a valid config: the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from daemon.config import parse_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_doc_has_an_example_per_source() -> None:
    text = "\n".join(BLOCKS)
    for section in ("prometheus:", "templates:", "health_queries:", "kubernetes:", "webhooks:", "probes:"):
        assert section in text, section


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_config_blocks_are_valid(block: str) -> None:
    cfg = parse_config(yaml.safe_load(block), str(DOC))
    assert cfg is not None
