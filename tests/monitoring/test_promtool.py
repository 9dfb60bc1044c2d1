"""The packaged Prometheus configuration and rules pass promtool's checks and unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hal9.monitoring import export
from tests.monitoring.assets import load_yaml, require_tool, rules


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """The assets as `monitoring export` writes them, in the layout promtool and Prometheus read."""
    export(tmp_path / "monitoring")
    return tmp_path / "monitoring" / "prometheus"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_check_config_accepts_the_exported_prometheus_yml(exported: Path) -> None:
    """`promtool check config` accepts prometheus.yml and finds both rule files through it."""
    result = promtool("check", "config", "prometheus.yml", cwd=exported)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


def test_promtool_check_rules_accepts_alerts_and_recording_rules(exported: Path) -> None:
    """`promtool check rules` accepts both rule files."""
    result = promtool("check", "rules", "rules/alerts.yml", "rules/recording.yml", cwd=exported)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rules_pass(exported: Path) -> None:
    """`promtool test rules` runs the shipped unit tests against the shipped rules and they pass."""
    result = promtool("test", "rules", "tests/alerts_test.yml", cwd=exported)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_an_alert_threshold_is_broken(exported: Path) -> None:
    """The unit tests have teeth: a high error rate threshold of 0.001 makes the quiet case fail."""
    alerts = exported / "rules" / "alerts.yml"
    document = yaml.safe_load(alerts.read_text(encoding="utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "Hal9HighErrorRate":
                rule["expr"] = rule["expr"].replace("> 0.1", "> 0.001")
    alerts.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", "tests/alerts_test.yml", cwd=exported)
    assert result.returncode != 0
    assert "high error rate stays quiet" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    """For each alert the promtool tests expect it firing at least once and expect no alert at least once."""
    document = load_yaml("tests", "alerts_test.yml")
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in document["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {rule.name for rule in rules() if rule.kind == "alert"}
    assert alerts - fires == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet"
    assert fires | quiet <= alerts, "tests of alerts that do not exist"
