"""The documentation site builds with ``mkdocs build --strict``, and its reference pages cover the code.

The build runs offline: the theme loads no web fonts, and no plugin fetches anything (no social
cards, no privacy plugin). The reference pages are generated from the code by scripts/docs_hooks.py,
so these checks compare the built pages with the code they were generated from.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hal9.config import Config
from hal9.metrics import families as fam
from tests.docs.examples import ROOT

pytestmark = pytest.mark.slow


def built_site(folder: Path) -> Path:
    site = folder / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_site(tmp_path_factory.mktemp("docs"))


def text_of(page: Path) -> str:
    """A built page's text, without tags (entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in pages(value)]
        return []

    for page in pages(config["nav"]):
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), page


def config_keys(model: type, prefix: str = "") -> tuple[list[str], list[str]]:
    """The dotted keys of a configuration model: its leaves, and the sections (tables) they are in."""
    leaves: list[str] = []
    sections: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = [c for c in (annotation, *getattr(annotation, "__args__", ())) if hasattr(c, "model_fields")]
        if not nested:
            leaves.append(prefix + name)
        for child in nested:
            sections.append(prefix + name)
            child_leaves, child_sections = config_keys(child, f"{prefix}{name}.")
            leaves += child_leaves
            sections += child_sections
    return leaves, sections


def test_the_configuration_reference_has_every_key(site: Path) -> None:
    page = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    text = text_of(site / "reference" / "configuration" / "index.html")
    leaves, sections = config_keys(Config)
    assert len(leaves) > 100
    for key in leaves:
        assert f"<code>{key.rsplit('.', 1)[-1]}</code>" in page, key
    for section in sections:
        assert re.search(rf"\[\[?{re.escape(section)}[].]", text), section
    assert "HAL9_SERVER__PORT" in page
    assert "HAL9_LLM__BUDGET__DAY" in page


def test_the_metrics_reference_has_all_forty_families(site: Path) -> None:
    page = text_of(site / "reference" / "metrics" / "index.html")
    families = [v for v in vars(fam).values() if isinstance(v, fam.Family)] + list(fam.GAUGES_NAMED_TOTAL.values())
    assert len(families) == 42  # the contract's 40 and the two hal9_service_* families of users' services
    for family in families:
        assert family.name in page, family.name
    assert "All 40 families of the contract" in page
    assert "0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60" in page  # the signal buckets


def test_the_http_reference_has_every_route_and_the_openapi_document(site: Path) -> None:
    document = json.loads((site / "reference" / "openapi.json").read_text(encoding="utf-8"))
    page = text_of(site / "reference" / "http-api" / "index.html")
    assert len(document["paths"]) >= 20
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"{method.upper()} {path}" in " ".join(page.split()), f"{method.upper()} {path}"


def test_the_command_line_reference_has_every_command(site: Path) -> None:
    page = text_of(site / "reference" / "cli" / "index.html")
    for command in ("serve", "init", "check", "users create", "keys revoke", "mcp", "monitoring export"):
        assert f"usage: hal9 {command}" in page, command


def test_the_changelog_page_includes_the_changelog(site: Path) -> None:
    page = " ".join(text_of(site / "changelog" / "index.html").split())
    headings = [
        line.lstrip("#").strip().replace("[", "").replace("]", "")
        for line in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    assert headings
    for heading in headings:
        assert heading in page, heading
