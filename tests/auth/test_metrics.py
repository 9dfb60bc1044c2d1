"""The five hal9_auth_* families, after real work, have the contract's names, types, labels and values."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hal9.auth import Role
from hal9.auth.metrics import ACTIVE_WINDOW_SECONDS, AuthState
from tests.auth.helpers import PASSWORD, AuthApi, bearer
from tests.cli.helpers import contract
from tests.metrics.test_families import assert_matches_contract, collected

pytestmark = pytest.mark.anyio

SECTION = "Authentication Metrics"


async def real_work(api: AuthApi) -> str:
    """Logins (good and bad), a refresh, key uses (good and bad); returns the operator key."""
    tokens = await api.user("olga", Role.OPERATOR)
    await api.client.post("/api/v1/auth/login", json={"username": "olga", "password": "wrong password"})
    await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    key = await api.key(Role.OPERATOR)
    await api.client.get("/api/v1/neurons", headers={"X-API-Key": key})
    await api.client.get("/api/v1/neurons", headers={"X-API-Key": key[:-1] + ("B" if key.endswith("A") else "A")})
    await api.client.get("/api/v1/neurons", headers=bearer(tokens["access_token"]))
    return key


async def test_all_five_families_match_the_contract_after_real_work(api: AuthApi) -> None:
    await real_work(api)
    families = collected(api.runtime)
    rows = contract(SECTION)
    assert len(rows) == 5
    for row in rows:
        assert_matches_contract(row.name, families[row.name])


async def test_a_scrape_shows_the_families_with_their_values(api: AuthApi) -> None:
    key = await real_work(api)
    text = (await api.client.get("/metrics")).text
    parsed = {family.name: family for family in text_string_to_metric_families(text)}
    for row in contract(SECTION):
        family = parsed[row.parsed_name]
        assert family.type == row.type
        for sample in family.samples:
            assert set(sample.labels) == row.labels
            for label, allowed in row.values.items():
                assert sample.labels[label] in allowed
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parsed.values() for s in f.samples}
    assert values[("hal9_auth_attempts_total", (("status", "success"), ("type", "login")))] == 1
    assert values[("hal9_auth_attempts_total", (("status", "failure"), ("type", "login")))] == 1
    assert values[("hal9_auth_attempts_total", (("status", "success"), ("type", "api_key")))] == 1
    assert values[("hal9_auth_attempts_total", (("status", "failure"), ("type", "api_key")))] == 1
    assert values[("hal9_auth_tokens_issued_total", (("type", "access"),))] == 2  # login + refresh
    assert values[("hal9_auth_tokens_issued_total", (("type", "refresh"),))] == 2
    assert values[("hal9_auth_api_key_usage_total", (("key_id", key.split("_")[1]),))] == 1
    assert values[("hal9_auth_api_keys_active", ())] == 2  # the fixture's admin key and this one
    assert values[("hal9_auth_users_active", ())] == 2  # olga and the operator key; the admin key was never used


async def test_users_active_counts_distinct_principals(api: AuthApi) -> None:
    await api.auth.create_user("olga", PASSWORD, Role.VIEWER)
    for _ in range(3):
        response = await api.client.post("/api/v1/auth/login", json={"username": "olga", "password": PASSWORD})
        await api.client.get("/api/v1/neurons", headers=bearer(response.json()["access_token"]))
    assert api.sample("hal9_auth_users_active") == 1


def test_a_principal_leaves_users_active_after_fifteen_minutes() -> None:
    state = AuthState()
    state.saw("user:1", now=1000.0)
    state.saw("key:abc", now=1000.0 + ACTIVE_WINDOW_SECONDS / 2)
    assert state.users_active(now=1000.0 + ACTIVE_WINDOW_SECONDS) == 2
    assert state.users_active(now=1001.0 + ACTIVE_WINDOW_SECONDS) == 1
    state.saw("user:2", now=1001.0 + ACTIVE_WINDOW_SECONDS)
    assert list(state.seen) == ["key:abc", "user:2"]  # the stale one was forgotten, not just skipped
