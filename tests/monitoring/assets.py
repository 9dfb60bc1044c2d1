"""Reading the packaged monitoring assets for the tests: rules, dashboards, PromQL metric names."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import pytest
import yaml

from tests.cli.helpers import ContractRow, contract

PACKAGE: Traversable = files("hal9.monitoring")
SECTIONS = (
    "System Metrics",
    "Neuron Metrics",
    "Claude Integration Metrics",
    "Memory System Metrics",
    "Learning Metrics",
    "MCP Tools Metrics",
    "Authentication Metrics",
    "Network Metrics (Distributed Mode)",
)
CONTRACT: dict[str, ContractRow] = {row.name: row for row in contract(*SECTIONS)}
DASHBOARD_TITLES = {
    "System Overview",
    "Neuron Performance",
    "Claude Usage",
    "Learning Analytics",
    "Security",
}
#: Grafana's interval variables, replaced by a fixed window where a query is run for real.
GRAFANA_VARIABLES = ("$__rate_interval", "$__interval", "$__range")
#: The dashboards' job variable: the Prometheus jobs that scrape HAL9.
JOB_MATCHER = 'job=~"$job"'


def substitute(expr: str, job: str = "hal9") -> str:
    """A dashboard query as Grafana would send it: intervals of 1m, the job variable set to ``job``."""
    for variable in GRAFANA_VARIABLES:
        expr = expr.replace(variable, "1m")
    return expr.replace("$job", job)


def require_tool(name: str) -> str:
    """The path of a Prometheus tool; a missing one fails under CI and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, and CI requires it")
        pytest.skip(f"{name} is not installed")
    return path


def load_yaml(*parts: str) -> Any:
    return yaml.safe_load(PACKAGE.joinpath(*parts).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Rule:
    kind: str  # "record" or "alert"
    name: str
    expr: str
    body: dict[str, Any]


def rules() -> list[Rule]:
    """Every recording and alerting rule of the packaged rule files."""
    found: list[Rule] = []
    for filename in ("recording.yml", "alerts.yml"):
        for group in load_yaml("rules", filename)["groups"]:
            for rule in group["rules"]:
                kind = "record" if "record" in rule else "alert"
                found.append(Rule(kind, rule[kind], rule["expr"], rule))
    return found


def recording_names() -> set[str]:
    return {rule.name for rule in rules() if rule.kind == "record"}


def dashboards() -> dict[str, dict[str, Any]]:
    """The packaged dashboards by file name."""
    folder = PACKAGE.joinpath("grafana", "dashboards")
    return {
        item.name: json.loads(item.read_text(encoding="utf-8"))
        for item in sorted(folder.iterdir(), key=lambda t: t.name)
        if item.name.endswith(".json")
    }


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, expr) of every target of every dashboard."""
    return [
        (board["title"], panel["title"], target["expr"])
        for board in dashboards().values()
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]


# -- PromQL: which metric names does an expression read? --------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACKETS = re.compile(r"\[[^\]]*\]|\{[^}]*\}")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])[a-zA-Z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (label names, strings, functions and keywords removed)."""
    expr = _STRING.sub('""', substitute(expr))
    expr = _BRACKETS.sub("", expr)
    expr = _LABEL_LISTS.sub("", expr)
    names = set()
    for match in _IDENT.finditer(expr):
        token = match.group()
        if token.lower() in _KEYWORDS or expr[match.end() :].lstrip().startswith("("):
            continue  # an operator keyword, or a function or aggregation being called
        names.add(token)
    return names


def family_of(name: str) -> str | None:
    """The contract family a series name belongs to (``_bucket/_sum/_count`` of a histogram), or None."""
    if name in CONTRACT:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in CONTRACT and CONTRACT[base].type == "histogram":
            return base
    return None


def families_read(expr: str) -> set[str]:
    """The contract families an expression reads, through our recording rules too."""
    by_record = {rule.name: rule.expr for rule in rules() if rule.kind == "record"}
    found: set[str] = set()
    for name in metric_names(expr):
        if name in by_record:
            found |= families_read(by_record[name])
        elif (family := family_of(name)) is not None:
            found.add(family)
    return found
