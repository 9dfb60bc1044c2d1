"""Writing the monitoring assets (package data) out to a folder ready to mount.

Layout written under ``DIR``::

    prometheus/prometheus.yml          scrape job hal9, rule_files rules/*.yml
    prometheus/rules/{alerts,recording}.yml
    prometheus/tests/alerts_test.yml   promtool test rules prometheus/tests/alerts_test.yml
    grafana/provisioning/datasources/hal9.yml
    grafana/provisioning/dashboards/hal9.yml
    grafana/dashboards/*.json
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from hal9.errors import Hal9Error

#: The Prometheus URL the Grafana datasource points at unless told otherwise (a compose service name).
DEFAULT_PROMETHEUS_URL = "http://prometheus:9090"
#: The dashboards folder named in the packaged provider file (where a container would mount it).
DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/hal9"

_DATASOURCES = PurePosixPath("grafana/provisioning/datasources/hal9.yml")
_PROVIDERS = PurePosixPath("grafana/provisioning/dashboards/hal9.yml")
_DASHBOARDS = PurePosixPath("grafana/dashboards")

#: Package folder (relative to ``hal9/monitoring``) -> folder under the export directory, and the suffix of its files.
_FOLDERS: tuple[tuple[str, str, str], ...] = (
    ("rules", "prometheus/rules", ".yml"),
    ("tests", "prometheus/tests", ".yml"),
    ("grafana/provisioning/datasources", "grafana/provisioning/datasources", ".yml"),
    ("grafana/provisioning/dashboards", "grafana/provisioning/dashboards", ".yml"),
    ("grafana/dashboards", "grafana/dashboards", ".json"),
)


class ExportConflict(Hal9Error):
    """The export would overwrite files that exist (and ``force`` was not given)."""

    def __init__(self, paths: list[Path]) -> None:
        shown = ", ".join(str(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(f"{len(paths)} file(s) exist: {shown}; use --force to overwrite")
        self.paths = paths


def _package() -> Traversable:
    return files("hal9.monitoring")


def asset_paths() -> dict[PurePosixPath, Traversable]:
    """Every asset by its path relative to the export directory, in a stable order."""
    root = _package()
    assets: dict[PurePosixPath, Traversable] = {PurePosixPath("prometheus/prometheus.yml"): root / "prometheus.yml"}
    for source, target, suffix in _FOLDERS:
        folder = root.joinpath(*source.split("/"))
        for item in sorted(folder.iterdir(), key=lambda t: t.name):
            if item.is_file() and item.name.endswith(suffix):
                assets[PurePosixPath(target) / item.name] = item
    return assets


def _substitute(text: str, old: str, new: str, name: PurePosixPath) -> str:
    if old not in text:  # the packaged file changed without this code: fail loudly, not silently
        raise AssertionError(f"{name} no longer contains {old!r}")
    return text.replace(old, new)


def export(
    dest: Path,
    *,
    force: bool = False,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
    dashboards_path: str | None = None,
) -> list[Path]:
    """Write every monitoring asset under ``dest``; returns the files written.

    The Grafana datasource gets ``prometheus_url``; the dashboards provider gets
    ``dashboards_path``, by default the absolute path of ``dest/grafana/dashboards``, so
    Grafana run on this machine with ``paths.provisioning = dest/grafana/provisioning``
    finds the dashboards where they were written.

    Args:
        dest: the folder to write into (created if missing).
        force: overwrite files that exist; without it nothing is written if any does.
        prometheus_url: the URL Grafana reaches Prometheus at.
        dashboards_path: where Grafana will see ``dest/grafana/dashboards`` (in a container,
            the path it is mounted at).

    Returns:
        The paths written, in the order of :func:`asset_paths`.

    Raises:
        ExportConflict: a file to write exists and ``force`` is false.
    """
    assets = asset_paths()
    targets = {rel: dest.joinpath(*rel.parts) for rel in assets}
    if not force:
        existing = [path for path in targets.values() if path.exists()]
        if existing:
            raise ExportConflict(existing)
    # Quoted as JSON, which YAML reads as a double-quoted string, so any path or URL stays one scalar.
    dashboards_dir = dashboards_path or str(dest.joinpath(*_DASHBOARDS.parts).resolve())
    written: list[Path] = []
    for rel, source in assets.items():
        text = source.read_text(encoding="utf-8")
        if rel == _DATASOURCES:
            text = _substitute(text, f"url: {DEFAULT_PROMETHEUS_URL}", f"url: {json.dumps(prometheus_url)}", rel)
        elif rel == _PROVIDERS:
            text = _substitute(text, f"path: {DEFAULT_DASHBOARDS_PATH}", f"path: {json.dumps(dashboards_dir)}", rel)
        path = targets[rel]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
