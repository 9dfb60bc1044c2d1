"""/metrics and the HTTP metrics: exposition format, route-template labels, folded methods, real statuses."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.helpers import Api

pytestmark = pytest.mark.anyio

REQUESTS = "hal9_http_requests_total"
DURATION_COUNT = "hal9_http_request_duration_seconds_count"


def http_samples(text: str) -> list[dict[str, str]]:
    """The label sets of every hal9_http_requests_total sample in a scrape, with the value under "value"."""
    for family in text_string_to_metric_families(text):
        if family.name == "hal9_http_requests":
            return [{**s.labels, "value": str(s.value)} for s in family.samples if s.name == REQUESTS]
    return []


async def test_metrics_is_prometheus_text_without_redirect(api: Api) -> None:
    """GET /metrics answers 200 directly (no redirect) in the Prometheus text format, without _created series."""
    response = await api.client.get("/metrics", follow_redirects=False)

    assert response.status_code == 200
    assert not response.history
    media_type, *params = (part.strip() for part in response.headers["content-type"].split(";"))
    assert media_type == "text/plain"
    assert "charset=utf-8" in params
    assert any(p in ("version=0.0.4", "version=1.0.0") for p in params)
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"hal9_server_uptime_seconds", "hal9_neuron_state", "hal9_signals_processed"} <= names
    assert "_created" not in response.text


async def test_requests_are_labelled_by_route_template_never_by_raw_path(api: Api) -> None:
    """GET /api/v1/signals/<id> counts under the template, for known and unknown ids alike; ids never become labels."""
    done = await api.client.post("/api/v1/signals", json={"content": "Build a todo app", "wait": True})
    signal_id = done.json()["id"]
    assert (await api.client.get(f"/api/v1/signals/{signal_id}")).status_code == 200
    assert (await api.client.get("/api/v1/signals/made-up-id")).status_code == 404
    assert (await api.client.get("/api/v1/neurons/design")).status_code == 200

    template = "/api/v1/signals/{signal_id}"
    assert api.sample(REQUESTS, method="GET", endpoint=template, status="200") == 1
    assert api.sample(REQUESTS, method="GET", endpoint=template, status="404") == 1
    assert api.sample(DURATION_COUNT, method="GET", endpoint=template) == 2
    assert api.sample(REQUESTS, method="POST", endpoint="/api/v1/signals", status="200") == 1
    assert api.sample(REQUESTS, method="GET", endpoint="/api/v1/neurons/{neuron_id}", status="200") == 1

    scrape = (await api.client.get("/metrics")).text
    assert signal_id not in scrape
    assert "made-up-id" not in scrape
    endpoints = {s["endpoint"] for s in http_samples(scrape)}
    assert endpoints == {"/api/v1/signals", template, "/api/v1/neurons/{neuron_id}"}


async def test_unknown_paths_are_labelled_unmatched(api: Api) -> None:
    """Requests no route matches count under endpoint="unmatched", with their real 404 status."""
    for path in ("/no/such/path", "/wp-admin.php", "/api/v2/signals"):
        assert (await api.client.get(path)).status_code == 404

    assert api.sample(REQUESTS, method="GET", endpoint="unmatched", status="404") == 3
    scrape = (await api.client.get("/metrics")).text
    assert "wp-admin" not in scrape
    assert "/no/such/path" not in scrape


async def test_invented_methods_are_folded_into_other(api: Api) -> None:
    """A made-up HTTP method is counted as method="other" with the route's template and the real 405 status."""
    response = await api.client.request("BREW", "/health")
    assert response.status_code == 405
    unmatched = await api.client.request("PROPFIND", "/nowhere")
    assert unmatched.status_code == 404

    assert api.sample(REQUESTS, method="other", endpoint="/health", status="405") == 1
    assert api.sample(REQUESTS, method="other", endpoint="unmatched", status="404") == 1
    scrape = (await api.client.get("/metrics")).text
    assert "BREW" not in scrape
    assert "PROPFIND" not in scrape


async def test_status_label_is_the_status_the_client_got(api: Api) -> None:
    """202, 422 and 405 answers of the same route are counted separately under their real status."""
    assert (await api.client.post("/api/v1/signals", json={"content": "x"})).status_code == 202
    assert (await api.client.post("/api/v1/signals", json={})).status_code == 422
    assert (await api.client.delete("/api/v1/signals")).status_code == 405

    statuses = {
        (s["method"], s["status"]): float(s["value"])
        for s in http_samples((await api.client.get("/metrics")).text)
        if s["endpoint"] == "/api/v1/signals"
    }
    assert statuses == {("POST", "202"): 1.0, ("POST", "422"): 1.0, ("DELETE", "405"): 1.0}


async def test_metrics_requests_count_themselves_once_answered(api: Api) -> None:
    """A scrape is counted under endpoint "/metrics" after it is answered, so the next scrape sees it."""
    await api.client.get("/metrics")
    await api.client.get("/metrics")

    assert api.sample(REQUESTS, method="GET", endpoint="/metrics", status="200") == 2
