"""The control plane's REST API over HTTP: one method per request, errors mapped to one-line messages."""

from __future__ import annotations

from typing import Any, Iterator

import httpx

from .errors import ApiError, CtlError, Unreachable


class Client:
    """A synchronous client of the control-plane API (`docs/api.md`)."""

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "warpdrive-ctl"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        try:
            self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        except (httpx.InvalidURL, ValueError) as e:
            raise CtlError(f"invalid control-plane URL {base_url!r}: {e}") from None

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("DELETE", path, params=params, body=body)

    def stream(self, path: str, **params: Any) -> Iterator[str]:
        """A GET whose text body is passed on as it arrives (a CSV export of any size)."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=query, headers={"Accept": "text/csv"}) as resp:
                if not resp.is_success:
                    resp.read()
                    _answer(resp)
                yield from resp.iter_text()
        except httpx.TimeoutException:
            raise Unreachable(f"the control plane at {self.base_url} did not answer within {self.timeout:g}s") from None
        except (httpx.ConnectError, httpx.NetworkError) as e:
            raise Unreachable(f"cannot reach the control plane at {self.base_url}: {_reason(e)}") from None

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """Sends one request; returns the decoded JSON answer (None for 204) or raises a CtlError."""
        # Unset options are left out rather than sent empty, so the API applies its own defaults.
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if isinstance(body, dict):  # the API rejects null for most fields; a missing field takes its default
            body = {k: v for k, v in body.items() if v is not None}
        try:
            resp = self._http.request(method, path, params=query, json=body)
        except httpx.TimeoutException:
            raise Unreachable(f"the control plane at {self.base_url} did not answer within {self.timeout:g}s") from None
        except (httpx.ConnectError, httpx.NetworkError) as e:
            raise Unreachable(f"cannot reach the control plane at {self.base_url}: {_reason(e)}") from None
        except httpx.UnsupportedProtocol:
            raise CtlError(f"invalid control-plane URL {self.base_url!r}: use http:// or https://") from None
        except httpx.HTTPError as e:
            raise Unreachable(f"control plane at {self.base_url}: {_reason(e)}") from None
        return _answer(resp)


def _reason(e: Exception) -> str:
    # httpx wraps the socket error; its innermost text ("[Errno 111] Connection refused") is the useful part.
    inner: BaseException = e
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    return str(inner) or type(inner).__name__


def _answer(resp: httpx.Response) -> Any:
    if resp.status_code == 204:
        return None
    try:
        data = resp.json() if resp.content else None
    except ValueError:
        data = None
    if resp.is_success:
        if data is None and resp.content:
            raise CtlError(f"unexpected answer from {resp.request.url}: not JSON (HTTP {resp.status_code})")
        return data
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or "").strip()
    code, param = str(err.get("code") or ""), str(err.get("param") or "")
    status = resp.status_code
    if status == 401:
        message = (
            "unauthorized (401): this needs a valid token; pass --token or set WARPDRIVE_TOKEN "
            "(changes need an admin token)"
        )
    elif status == 403:
        message = "forbidden (403): this command needs an admin token"
    elif not message:
        message = f"HTTP {status} from {resp.request.method} {resp.request.url.path}"
    elif status >= 500:
        message = f"control plane error ({status}): {message}"
    raise ApiError(status, message, code, param)
