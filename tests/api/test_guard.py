"""No cross-site write, no rebound Host, JSON bodies only, and never a 500 for odd bytes — with auth on (the
session's tokens) and off (the local stack's default)."""

from __future__ import annotations

import dataclasses
import re
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from warpdrive.api.app import all_endpoints, create_app
from warpdrive.api.guard import allowed_hosts, host_name
from warpdrive.schemas.config import Config, from_dict

from .conftest import Api, Db

MUTATIONS = [ep for ep in all_endpoints() if ep.method != "GET"]
FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://127.0.0.1:1"},
]
FILES = {"files": [{"backend": "s3", "path": "a/b.bin"}]}


def url(ep) -> str:
    return re.sub(r"\{[^}]+\}", "x1", ep.path)


def ids(eps) -> list[str]:
    return [f"{ep.method} {ep.path}" for ep in eps]


# ---------------------------------------------------------------- unit: which hosts are served
def test_allowed_hosts_default_to_the_listen_host_and_loopback_names() -> None:
    def hosts(**api: object) -> frozenset[str] | None:
        return allowed_hosts(from_dict({"api": api}))

    assert hosts(listen="127.0.0.1:8080") == {"127.0.0.1", "localhost", "::1"}
    assert "gov.example" in (hosts(listen="127.0.0.1:8080", url="https://gov.example/") or ())
    assert hosts(listen="0.0.0.0:8080") is None  # every interface on purpose
    assert hosts(listen="0.0.0.0:8080", allowed_hosts=["gov.example"]) == {"gov.example"}
    assert hosts(listen="127.0.0.1:8080", allowed_hosts=["*"]) is None
    assert [host_name(h) for h in ("LocalHost:80", "[::1]:8080", "::1", "a.b")] == ["localhost", "::1", "::1", "a.b"]


# ---------------------------------------------------------------- auth on


@pytest.mark.services
@pytest.mark.parametrize("ep", MUTATIONS, ids=ids(MUTATIONS))
@pytest.mark.parametrize("headers", FOREIGN, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_cross_site_mutations_are_403_even_with_an_admin_token(admin: Api, ep, headers: dict) -> None:
    r = admin.request(ep.method, url(ep), json=FILES, headers=headers)
    assert r.status_code == 403, r.text
    assert "cross-site" in r.json()["error"]["message"]


@pytest.mark.services
def test_a_cross_site_mark_stores_nothing_and_a_same_origin_one_works(admin: Api, clean: Db, api_cfg: Config) -> None:
    r = admin.post("/api/v1/marks", json=FILES, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 0
    same = {"Origin": f"http://{api_cfg.api.listen}", "Sec-Fetch-Site": "same-origin"}
    r = admin.post("/api/v1/marks", json=FILES, headers=same)
    assert r.status_code == 200, r.text
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 1


@pytest.mark.services
def test_reads_with_auth_on_are_not_origin_checked_but_the_host_is(admin: Api) -> None:
    assert admin.get("/api/v1/backends", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    r = admin.get("/api/v1/backends", headers={"Host": "rebound.evil.example:8080"})
    assert r.status_code == 403 and "rebinding" in r.json()["error"]["message"]


@pytest.mark.services
@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_mutation_bodies_must_be_json(admin: Api, clean: Db, ctype: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    r = admin.post("/api/v1/marks", content=b'{"files": [{"backend": "s3", "path": "a/b.bin"}]}', headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 0
    ok = admin.post(
        "/api/v1/marks",
        content=b'{"files": [{"backend": "s3", "path": "a/b.bin"}]}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200, ok.text


ODD = [
    "/%00",
    "/%00/x",
    "/assets/%00.js",
    "/api/v1/%00",
    "/api/v1/users/%00",
    "/api/v1/jobs/%00",
    "/%ff%fe",
    "/a%0db",
    "/api/v1/usage?group_by=%00",
    "/api/v1/stale?backend=%ff",
    "/" + "a" * 5000,
]


@pytest.mark.services
@pytest.mark.parametrize("path", ODD)
def test_odd_bytes_are_400_or_404_never_500(admin: Api, path: str) -> None:
    r = admin.get(path)
    assert r.status_code in (400, 404), (r.status_code, r.text[:300])
    assert r.json()["error"]["message"]


@pytest.mark.services
def test_a_path_out_of_the_dashboard_is_the_spa_not_the_file(admin: Api) -> None:
    r = admin.get("/..%2f..%2f..%2f..%2fetc/passwd")
    assert r.status_code in (200, 404) and "root:" not in r.text


@pytest.mark.services
def test_a_nul_byte_in_a_body_is_a_400_and_stores_nothing(admin: Api, clean: Db) -> None:
    r = admin.post("/api/v1/marks", json={"files": [{"backend": "s3", "path": "a/\u0000.bin"}]})
    assert r.status_code == 400, r.text
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 0


# ---------------------------------------------------------------- auth off (the local stack's default)
@pytest.fixture
def open_api(api_cfg: Config) -> Iterator[TestClient]:
    cfg = dataclasses.replace(api_cfg, api=dataclasses.replace(api_cfg.api, insecure_no_auth=True))
    with TestClient(create_app(cfg), raise_server_exceptions=False, base_url=f"http://{cfg.api.listen}") as c:
        yield c


@pytest.mark.services
@pytest.mark.parametrize("headers", FOREIGN, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_auth_off_refuses_every_cross_site_request(open_api: TestClient, clean: Db, headers: dict) -> None:
    assert open_api.get("/api/v1/backends", headers=headers).status_code == 403
    r = open_api.post("/api/v1/marks", json=FILES, headers=headers)
    assert r.status_code == 403, r.text
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 0


@pytest.mark.services
def test_auth_off_serves_same_origin_and_non_browser_callers(open_api: TestClient, clean: Db, api_cfg: Config) -> None:
    own = f"http://{api_cfg.api.listen}"
    assert open_api.get("/api/v1/backends").status_code == 200  # curl, warpdrive-ctl: no browser headers
    assert open_api.get("/api/v1/backends", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    r = open_api.post("/api/v1/marks", json=FILES, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    # A link to the dashboard from another site opens it; the same link to the API does not.
    nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert open_api.get("/", headers=nav).status_code == 200
    assert open_api.get("/api/v1/backends", headers=nav).status_code == 403
    # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 reads "same-origin".
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080", "Sec-Fetch-Site": "same-origin"}
    assert open_api.get("/api/v1/backends", headers=rebound).status_code == 403
    assert open_api.post("/api/v1/marks", json=FILES, headers=rebound).status_code == 403
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 1
