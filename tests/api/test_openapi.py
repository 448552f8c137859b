"""The OpenAPI document: valid OpenAPI 3.1, complete, and true to the app (a bounded schemathesis run
over every operation with zero server errors and responses matching their schemas)."""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from warpdrive.api.app import all_endpoints, create_app
from warpdrive.api.dashboard import ROUTE_NAME
from warpdrive.schemas.config import Config

from .conftest import ADMIN

pytestmark = pytest.mark.services


def test_document_is_valid_openapi_3_1(app_client) -> None:
    doc = app_client.get("/api/v1/openapi.json").json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_route_is_documented_and_every_documented_route_exists(app_client) -> None:
    doc = app_client.get("/api/v1/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = {
        (m, r.path)
        for r in app_client.app.routes
        if isinstance(r, Route) and r.name != ROUTE_NAME
        for m in r.methods or ()
        if m != "HEAD"
    }
    assert documented == routes == {(ep.method, ep.path) for ep in all_endpoints()}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and {"200", "201", "204"} & set(op["responses"]), (method, path)
            if op.get("security") != []:
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(api_cfg: Config) -> None:
    """Positive and negative cases for every operation, a few examples each (kept short: seconds, not minutes)."""
    # schemathesis calls the app as Host "testserver": a host this app must serve (api.allowed_hosts).
    cfg = dataclasses.replace(api_cfg, api=dataclasses.replace(api_cfg.api, allowed_hosts=["testserver"]))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(cfg))
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
        negative_data_rejection,
    ]
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    # schemathesis leaves out the document's own URL
    assert {op.label for op in operations} == {f"{ep.method} {ep.path}" for ep in all_endpoints()} - {
        "GET /api/v1/openapi.json"
    }
    has_inputs = {f"{ep.method} {ep.path}": bool(ep.query or ep.path_params or ep.body) for ep in all_endpoints()}
    for op in operations:
        # An operation without inputs has no invalid request to generate.
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 + has_inputs[op.label]]:

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
            )
            def run(case) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=checks)

            try:
                run()
            except Exception as e:  # collect every operation's failure, then report them together
                failures.append(f"{op.label} ({mode}): {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)
