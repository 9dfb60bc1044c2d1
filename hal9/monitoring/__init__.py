"""Monitoring assets shipped with HAL9: Prometheus configuration, rules and Grafana dashboards.

The files are package data beside this module; :func:`export` writes them out in a layout
ready to mount into Prometheus and Grafana (``python -m hal9 monitoring export DIR``).
"""

from hal9.monitoring.export import DEFAULT_PROMETHEUS_URL, ExportConflict, asset_paths, export

__all__ = ["DEFAULT_PROMETHEUS_URL", "ExportConflict", "asset_paths", "export"]
