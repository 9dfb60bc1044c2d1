"""`python -m hal9 monitoring export DIR`: the layout, no silent overwrite, and package data that ships."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path, PurePosixPath

import yaml

from hal9.monitoring import asset_paths
from tests.cli.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
LAYOUT = {
    "prometheus/prometheus.yml",
    "prometheus/rules/alerts.yml",
    "prometheus/rules/recording.yml",
    "prometheus/tests/alerts_test.yml",
    "grafana/provisioning/datasources/hal9.yml",
    "grafana/provisioning/dashboards/hal9.yml",
    "grafana/dashboards/hal9-system-overview.json",
    "grafana/dashboards/hal9-neuron-performance.json",
    "grafana/dashboards/hal9-claude-usage.json",
    "grafana/dashboards/hal9-learning-analytics.json",
    "grafana/dashboards/hal9-security.json",
}


def written(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_export_writes_prometheus_and_grafana_folders_ready_to_mount(tmp_path: Path) -> None:
    """The export writes the documented layout; Grafana gets the dashboards' absolute path and Prometheus' URL."""
    result = run_cli("monitoring", "export", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert written(out) == LAYOUT
    assert "prometheus --config.file=" in result.stdout
    (provider,) = yaml.safe_load((out / "grafana/provisioning/dashboards/hal9.yml").read_text())["providers"]
    assert provider["options"]["path"] == str((out / "grafana" / "dashboards").resolve())
    (datasource,) = yaml.safe_load((out / "grafana/provisioning/datasources/hal9.yml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    packaged = Path(str(asset_paths()[PurePosixPath("prometheus/rules/alerts.yml")]))
    assert (out / "prometheus/rules/alerts.yml").read_bytes() == packaged.read_bytes()


def test_export_refuses_to_overwrite_without_force_and_writes_nothing(tmp_path: Path) -> None:
    """A second export fails with exit 1 naming the files and --force, and changes no file; --force overwrites."""
    assert run_cli("monitoring", "export", "out", cwd=tmp_path).returncode == 0
    edited = tmp_path / "out" / "prometheus" / "prometheus.yml"
    edited.write_text("# mine\n", encoding="utf-8")
    (tmp_path / "out" / "grafana" / "dashboards" / "hal9-security.json").unlink()

    refused = run_cli("monitoring", "export", "out", cwd=tmp_path)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert "prometheus.yml" in refused.stderr
    assert edited.read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "out" / "grafana" / "dashboards" / "hal9-security.json").exists()

    forced = run_cli(
        "monitoring", "export", "out", "--force", "--prometheus-url", "http://127.0.0.1:9090", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    assert "job_name: hal9" in edited.read_text(encoding="utf-8")
    assert written(tmp_path / "out") == LAYOUT
    (datasource,) = yaml.safe_load((tmp_path / "out/grafana/provisioning/datasources/hal9.yml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == "http://127.0.0.1:9090"


def test_export_can_name_the_dashboards_path_grafana_sees(tmp_path: Path) -> None:
    """--grafana-dashboards-path goes into the dashboards provider (for a container's mount point)."""
    result = run_cli(
        "monitoring", "export", "out", "--grafana-dashboards-path", "/var/lib/grafana/dashboards/hal9", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (provider,) = yaml.safe_load((tmp_path / "out/grafana/provisioning/dashboards/hal9.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/hal9"


def test_export_into_an_unwritable_place_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """A destination below a regular file fails with exit 1 and a one-line message."""
    (tmp_path / "file").write_text("", encoding="utf-8")
    result = run_cli("monitoring", "export", "file/out", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot write to file/out")
    assert "Traceback" not in result.stderr


def test_every_asset_is_declared_as_package_data() -> None:
    """Each packaged asset matches a [tool.setuptools.package-data] pattern, so it ships in the wheel."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["hal9.monitoring"]
    root = REPO / "hal9" / "monitoring"
    for source in asset_paths().values():
        relative = Path(str(source)).relative_to(root).as_posix()
        matches = [p for p in patterns if fnmatch.fnmatch(relative, p) and p.count("/") == relative.count("/")]
        assert matches, f"{relative} is not package data"
