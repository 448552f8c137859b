"""`warpdrive api serve` as a real process, the loopback rule for --insecure-no-auth, and the dashboard files."""

from __future__ import annotations

import dataclasses
import gzip
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests.helpers import Procs, wait_until
from warpdrive.api.app import create_app
from warpdrive.api.main import is_loopback
from warpdrive.schemas.config import Config

pytestmark = pytest.mark.services

WARPDRIVE = str(Path(sys.executable).with_name("warpdrive"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_over_http(procs: Procs, clean) -> None:
    port = free_port()
    procs.start("api", "api", "serve", "--listen", f"127.0.0.1:{port}", "--insecure-no-auth")

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 30, what="the API to listen")
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/usage?group_by=user")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["items"] == []
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/usage?days=1").status_code == 400


@pytest.mark.parametrize("args", [["--listen", "0.0.0.0:18999", "--insecure-no-auth"], ["--listen", "10.1.2.3:18999"]])
def test_insecure_no_auth_is_refused_off_loopback(config_path, args) -> None:
    # The session config sets api.insecure_no_auth, so even without the flag a public address is refused.
    p = subprocess.run(
        [WARPDRIVE, "api", "serve", "--config", str(config_path), *args], capture_output=True, text=True, timeout=60
    )
    assert p.returncode != 0
    assert "refusing to serve without auth" in p.stderr and "Traceback" not in p.stderr


def test_bad_listen_is_a_one_line_error(config_path) -> None:
    p = subprocess.run(
        [WARPDRIVE, "api", "serve", "--config", str(config_path), "--listen", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0 and "--listen" in p.stderr and "Traceback" not in p.stderr


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.1") and not is_loopback("::")


def test_dashboard_spa_fallback_and_cache_headers(api_cfg: Config, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>dash</html>")
    (dist / "assets" / "app-1a2b3c.js").write_text("console.log(1)")
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("no")
    cfg = dataclasses.replace(api_cfg, api=dataclasses.replace(api_cfg.api, web_dist=str(dist)))
    with TestClient(create_app(cfg), base_url="http://localhost") as c:
        r = c.get("/")
        assert r.status_code == 200 and r.text == "<html>dash</html>" and r.headers["cache-control"] == "no-cache"
        r = c.get("/assets/app-1a2b3c.js")
        assert (
            r.text == "console.log(1)"
            and "immutable" in r.headers["cache-control"]
            and "max-age=31536000" in r.headers["cache-control"]
        )
        assert c.get("/favicon.svg").headers["cache-control"] == "no-cache"
        assert c.get("/stale/some/client/route").text == "<html>dash</html>"  # SPA fallback
        assert c.get("/assets/missing-123.js").status_code == 404
        assert "no" != c.get("/../secret.txt").text and c.get("/%2e%2e/secret.txt").text == "<html>dash</html>"
        r = c.get("/api/v1/nothing")
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_dashboard_assets_go_out_precompressed_as_accepted(api_cfg: Config, tmp_path: Path) -> None:
    """The build's .br/.gz copies are sent as they are (never compressed again), in the browser's accepted coding."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>dash</html>")
    plain = b"export const x = 1;" * 200
    (dist / "assets" / "app-1a2b3c.js").write_bytes(plain)
    (dist / "assets" / "app-1a2b3c.js.br").write_bytes(b"brotli bytes")
    (dist / "assets" / "app-1a2b3c.js.gz").write_bytes(gzip.compress(plain))
    (dist / "assets" / "only-plain.css").write_text("body{}")
    cfg = dataclasses.replace(api_cfg, api=dataclasses.replace(api_cfg.api, web_dist=str(dist)))
    with TestClient(create_app(cfg), base_url="http://localhost") as c:

        def get(path: str, accept: str) -> tuple[httpx.Headers, bytes]:
            # The bytes as sent (the client must not decode them: the brotli body is fake).
            with c.stream("GET", path, headers={"Accept-Encoding": accept}) as r:
                assert r.status_code == 200
                return r.headers, b"".join(r.iter_raw())

        headers, body = get("/assets/app-1a2b3c.js", "gzip, deflate, br, zstd")
        assert body == b"brotli bytes" and headers["content-encoding"] == "br"
        assert headers["content-type"].startswith("text/javascript") and "immutable" in headers["cache-control"]
        assert headers["vary"] == "Accept-Encoding" and headers["content-length"] == str(len(b"brotli bytes"))
        headers, body = get("/assets/app-1a2b3c.js", "gzip;q=1, br;q=0")
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == plain
        headers, body = get("/assets/app-1a2b3c.js", "identity")
        assert "content-encoding" not in headers and body == plain
        headers, body = get("/assets/only-plain.css", "br")  # no copy: the file as it is
        assert body == b"body{}" and headers["content-type"].startswith("text/css")


def test_without_a_dashboard_build_root_is_a_note(api_cfg: Config, tmp_path: Path) -> None:
    cfg = dataclasses.replace(api_cfg, api=dataclasses.replace(api_cfg.api, web_dist=str(tmp_path / "none")))
    with TestClient(create_app(cfg), base_url="http://localhost") as c:
        r = c.get("/")
        assert r.status_code == 200 and "dashboard is not built" in r.text and "/api/v1/openapi.json" in r.text


def test_unreachable_database_is_a_one_line_error(config_dict, tmp_path: Path) -> None:
    from warpdrive.schemas.config import dump_toml

    cfg = {**config_dict, "postgres": {"dsn": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}}
    path = tmp_path / "bad.toml"
    path.write_text(dump_toml(cfg))
    p = subprocess.run(
        [WARPDRIVE, "api", "serve", "--config", str(path), "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0 and "postgres.dsn: cannot connect" in p.stderr and "Traceback" not in p.stderr
