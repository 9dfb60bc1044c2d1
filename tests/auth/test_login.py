"""Login: one answer (and a similar time) for an unknown user and a wrong password; brute force meets 429."""

from __future__ import annotations

import statistics
import time

import pytest

from hal9.auth import Role
from hal9.auth.limiter import FailureWindow
from tests.auth.conftest import OpenAuthApi
from tests.auth.helpers import PASSWORD, AuthApi

pytestmark = pytest.mark.anyio

LOGIN = "/api/v1/auth/login"


def attempts(api: AuthApi, status: str) -> float:
    return api.sample("hal9_auth_attempts_total", type="login", status=status)


async def test_login_issues_tokens_and_counts_the_attempt(api: AuthApi) -> None:
    await api.auth.create_user("Olga", PASSWORD, Role.OPERATOR)
    response = await api.client.post(LOGIN, json={"username": "olga", "password": PASSWORD})  # names ignore case
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 7 * 86400
    assert attempts(api, "success") == 1
    assert api.sample("hal9_auth_tokens_issued_total", type="access") == 1
    me = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["role"] == "operator"


async def test_unknown_user_and_wrong_password_get_the_same_answer(api: AuthApi) -> None:
    await api.auth.create_user("olga", PASSWORD, Role.VIEWER)
    await api.auth.create_user("dora", PASSWORD, Role.VIEWER)
    await api.auth.set_user_active("dora", False)
    unknown = await api.client.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    wrong = await api.client.post(LOGIN, json={"username": "olga", "password": "not the password"})
    disabled = await api.client.post(LOGIN, json={"username": "dora", "password": PASSWORD})
    assert unknown.status_code == wrong.status_code == disabled.status_code == 401
    assert unknown.json() == wrong.json() == disabled.json() == {"detail": "invalid username or password"}
    assert attempts(api, "failure") == 3


async def test_unknown_user_and_wrong_password_take_a_similar_time(open_auth_api: OpenAuthApi) -> None:
    """Both verify an argon2 hash (a dummy one for the unknown user), so neither answer is fast."""
    api = await open_auth_api(
        password_hash_time_cost=2, password_hash_memory_kib=16384, login_max_failures_per_user=100,
        login_max_failures_per_address=100,
    )  # fmt: skip
    await api.auth.create_user("olga", PASSWORD, Role.VIEWER)
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    for _ in range(7):
        for case, username in (("unknown", "nobody"), ("wrong", "olga")):
            started = time.perf_counter()
            response = await api.client.post(LOGIN, json={"username": username, "password": "guess-guess"})
            timings[case].append(time.perf_counter() - started)
            assert response.status_code == 401
    unknown, wrong = statistics.median(timings["unknown"]), statistics.median(timings["wrong"])
    assert 0.5 < unknown / wrong < 2.0, timings


async def test_brute_force_on_one_user_reaches_429_with_retry_after(api: AuthApi) -> None:
    await api.auth.create_user("olga", PASSWORD, Role.VIEWER)
    for _ in range(5):  # login_max_failures_per_user
        response = await api.client.post(LOGIN, json={"username": "olga", "password": "guess-guess"})
        assert response.status_code == 401
    limited = await api.client.post(LOGIN, json={"username": "olga", "password": "guess-guess"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 300
    assert "too many failed login attempts" in limited.json()["detail"]
    # Even the right password waits: the limit is checked before the password.
    assert (await api.client.post(LOGIN, json={"username": "olga", "password": PASSWORD})).status_code == 429
    assert attempts(api, "failure") == 7
    assert attempts(api, "success") == 0


async def test_brute_force_from_one_address_across_users_reaches_429(open_auth_api: OpenAuthApi) -> None:
    api = await open_auth_api(login_max_failures_per_address=3)
    for name in ("a1", "a2", "a3"):
        assert (await api.client.post(LOGIN, json={"username": name, "password": "guess-guess"})).status_code == 401
    limited = await api.client.post(LOGIN, json={"username": "a4", "password": "guess-guess"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


async def test_a_success_clears_the_users_failures(api: AuthApi) -> None:
    await api.auth.create_user("olga", PASSWORD, Role.VIEWER)
    for _ in range(2):
        for _ in range(4):
            assert (await api.client.post(LOGIN, json={"username": "olga", "password": "x" * 12})).status_code == 401
        assert (await api.client.post(LOGIN, json={"username": "olga", "password": PASSWORD})).status_code == 200


async def test_login_input_is_bounded(api: AuthApi) -> None:
    response = await api.client.post(LOGIN, json={"username": "u" * 65, "password": "p"})
    assert response.status_code == 422
    assert (await api.client.post(LOGIN, json={"username": "u", "password": "p" * 1025})).status_code == 422


def test_the_failure_window_forgets_old_failures_and_bounds_its_keys() -> None:
    window = FailureWindow(limit=2, window=60.0, max_keys=10)
    window.fail("olga", now=100.0)
    assert window.retry_after("olga", now=100.0) == 0
    window.fail("olga", now=110.0)
    assert window.retry_after("olga", now=110.0) == 50  # until the first failure is a minute old
    assert window.retry_after("olga", now=160.5) == 0
    for index in range(50):
        window.fail(f"invented-{index}", now=200.0)
    assert len(window) == 10
    assert window.retry_after("olga", now=200.0) == 0  # the least recent key went first
