"""README.md is the front door: short, its links resolve, and it points at nothing users do not have."""

from __future__ import annotations

import re

from tests.docs.examples import ROOT

README = ROOT / "README.md"


def test_readme_is_under_10_kb() -> None:
    assert len(README.read_bytes()) < 10_000


def test_readme_quotes_the_benchmark_commands() -> None:
    text = README.read_text(encoding="utf-8")
    for module in ("benchmarks.runtime_hop", "benchmarks.llm_latency", "benchmarks.http"):
        assert f"python -m {module}" in text


def test_readme_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local
    for link in local:
        assert (ROOT / link).is_file(), link


def test_readme_points_at_nothing_users_do_not_have() -> None:
    text = README.read_text(encoding="utf-8")
    for absent in ("../shared", "the seed", "hal9/cli.py"):
        assert absent not in text
