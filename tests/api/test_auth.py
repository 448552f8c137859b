"""Auth and generic validation on EVERY declared route (from the same declarations that build the app)."""

from __future__ import annotations

import re

import pytest

from warpdrive.api.app import all_endpoints

from .conftest import ADMIN, VIEWER

pytestmark = pytest.mark.services

ENDPOINTS = all_endpoints()
PROTECTED = [ep for ep in ENDPOINTS if not ep.public]
MUTATIONS = [ep for ep in ENDPOINTS if ep.method != "GET"]


def url(ep) -> str:
    return re.sub(r"\{[^}]+\}", "x1", ep.path)


def ids(eps) -> list[str]:
    return [f"{ep.method} {ep.path}" for ep in eps]


def test_every_mutation_needs_admin_and_every_get_viewer() -> None:
    assert all(ep.needed_role == "admin" for ep in MUTATIONS) and MUTATIONS
    assert {ep.path for ep in ENDPOINTS if ep.public} == {"/healthz", "/readyz", "/api/v1/openapi.json"}


@pytest.mark.parametrize("ep", PROTECTED, ids=ids(PROTECTED))
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer ", VIEWER])
def test_401_without_a_valid_bearer_token(app_client, ep, header) -> None:
    headers = {"Authorization": header} if header else {}
    if header == VIEWER:
        headers = {"Authorization": VIEWER}  # the token without the Bearer scheme
    r = app_client.request(ep.method, url(ep), headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["code"] == "unauthorized" and VIEWER not in r.text


@pytest.mark.parametrize("ep", MUTATIONS, ids=ids(MUTATIONS))
def test_403_for_a_viewers_mutation(viewer, ep) -> None:
    r = viewer.request(ep.method, url(ep), json={})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("ep", ENDPOINTS, ids=ids(ENDPOINTS))
def test_unknown_query_parameter_is_a_400_naming_it(admin, ep) -> None:
    r = admin.request(ep.method, url(ep) + "?no_such_param=1", json={})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "no_such_param"


@pytest.mark.parametrize("ep", [ep for ep in ENDPOINTS if ep.body], ids=ids([ep for ep in ENDPOINTS if ep.body]))
@pytest.mark.parametrize("body,param", [(b"{not json", "body"), (b"[1, 2]", "body"), (b'{"zzz": 1}', "zzz")])
def test_bad_bodies_are_400s(admin, ep, body, param) -> None:
    r = admin.request(ep.method, url(ep), content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


# Bodies with a required field (a dry run's filters are all optional: an empty body means every mark).
WITH_REQUIRED = [ep for ep in ENDPOINTS if any(p.required for p in ep.body)]


@pytest.mark.parametrize("ep", WITH_REQUIRED, ids=ids(WITH_REQUIRED))
def test_missing_required_body_field_is_named(admin, ep) -> None:
    required = [p.name for p in ep.body if p.required]
    r = admin.request(ep.method, url(ep), json={})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == required[0] and "required" in r.json()["error"]["message"]


def test_admin_token_reads_too(admin, clean) -> None:
    assert admin.get("/api/v1/usage").status_code == 200


def test_unknown_routes_are_json_404s(admin) -> None:
    for method, path in [
        ("GET", "/api/v1/nope"),
        ("DELETE", "/api/v1/usage/x"),
        ("POST", "/api/v2/usage"),
        ("GET", "/api"),
    ]:
        r = admin.request(method, path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, path, r.text)


def test_wrong_method_on_a_known_route_is_a_json_405(admin) -> None:
    r = admin.request("PATCH", "/api/v1/quota")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_public_routes_need_no_token(app_client) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json()["postgres"] is True
    assert app_client.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"


def test_admin_token_never_in_error_messages(app_client) -> None:
    r = app_client.get("/api/v1/usage", headers={"Authorization": f"Bearer {ADMIN}x"})
    assert r.status_code == 401 and ADMIN not in r.text


def test_oversized_body_is_refused(admin) -> None:
    from warpdrive.api.routing import MAX_BODY

    r = admin.post("/api/v1/marks", content=b"[" + b" " * MAX_BODY + b"]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "body" and "larger" in r.json()["error"]["message"]
