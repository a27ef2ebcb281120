"""The OpenAPI document: it covers every /api route, validates, and is served (or not) as configured."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from app import create_app
from app.api import openapi_registry as registry
from app.api.docs import DOCUMENTED_METHODS, build_spec, documented_rules, openapi_path
from manage import cli
from tests.helpers import assert_envelope


def test_every_api_route_has_a_registry_entry(app):
    missing = []
    for rule in documented_rules(app):
        for method in DOCUMENTED_METHODS:
            if method in (rule.methods or ()) and registry.lookup(rule.endpoint, method) is None:
                missing.append(f"{rule.endpoint} ({method} {rule.rule})")
    assert not missing, (
        "These /api routes have no entry in app/api/openapi_registry.py REGISTRY; add one each:\n  "
        + "\n  ".join(missing)
    )


def test_every_registry_entry_names_an_existing_endpoint(app):
    endpoints = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    stale = [name for name in registry.REGISTRY if name not in endpoints]
    assert not stale, f"REGISTRY entries for endpoints that do not exist: {stale}"
    wrong_methods = [
        f"{name} {method}"
        for name, entry in registry.REGISTRY.items()
        if isinstance(entry, dict)
        for method in entry
        if method not in (endpoints[name].methods or ())
    ]
    assert not wrong_methods, f"REGISTRY entries for methods the route does not serve: {wrong_methods}"


def test_spec_is_a_valid_openapi_document(app):
    spec = build_spec(app)
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_spec_documents_every_visible_operation_with_envelope_and_errors(app):
    spec = build_spec(app)
    for rule in documented_rules(app):
        for method in DOCUMENTED_METHODS:
            op = registry.lookup(rule.endpoint, method)
            if method not in (rule.methods or ()) or op is None or op.hidden:
                continue
            operation = spec["paths"][openapi_path(rule)][method.lower()]
            responses = operation["responses"]
            if op.responses:
                # A redirect or an XML document: its own success, but errors are still the envelope.
                assert {str(status) for status in op.responses} <= set(responses), rule.endpoint
            else:
                success = responses[str(op.status)]["content"]["application/json"]["schema"]
                assert success["allOf"][0] == {"$ref": "#/components/schemas/SuccessEnvelope"}
            assert {"429", "503"} <= set(responses), rule.endpoint
            if op.auth == registry.SESSION:
                assert "401" in responses and operation["security"], rule.endpoint
            if op.body is not None:
                assert {"400", "413", "415", "422"} <= set(responses), rule.endpoint
            assert operation["summary"], rule.endpoint


def test_request_bodies_come_from_the_validating_schemas(app):
    spec = build_spec(app)
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Register"
    }
    schema = spec["components"]["schemas"]["Register"]
    # Unknown fields are refused by the schema, and the document says so.
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"email", "password"}
    assert schema["properties"]["name"]["maxLength"] == 200


def test_security_schemes_offer_bearer_or_cookie_with_csrf(app):
    spec = build_spec(app)
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth", "csrfHeader"}
    logout = spec["paths"]["/api/v1/auth/logout"]["post"]
    assert logout["security"] == [{"bearerAuth": []}, {"cookieAuth": [], "csrfHeader": []}]
    me = spec["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    assert spec["paths"]["/api/v1/auth/login"]["post"]["security"] == []


def test_openapi_json_is_served_and_matches_the_builder(client, app):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.get_json() == build_spec(app)
    assert resp.headers["Cache-Control"] == "no-store"


def test_manage_openapi_prints_the_same_document(app):
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["openapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == build_spec(app)


def test_swagger_ui_page_and_assets_are_served_locally(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/docs/assets/swagger-ui-bundle.js" in html and "/api/openapi.json" in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    with client.get("/api/docs/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200 and len(bundle.data) > 100_000
        assert bundle.headers["Cache-Control"] == "public, max-age=86400"
    assert client.get("/api/docs/init.js").status_code == 200
    with client.get("/api/docs/assets/swagger-ui.css") as css:
        assert css.mimetype == "text/css"


@pytest.mark.parametrize("path", ["../../app/config.py", "index.html", "..%2f__init__.py", "nope.js"])
def test_swagger_assets_outside_the_allow_list_are_an_enveloped_404(client, path):
    assert_envelope(client.get(f"/api/docs/assets/{path}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs", "/api/docs/init.js"])
def test_docs_are_an_enveloped_404_when_disabled(app, path):
    disabled = create_app("testing", {"DOCS_ENABLED": False})
    assert_envelope(disabled.test_client().get(path), 404, "NOT_FOUND")


def test_docs_are_off_by_default_in_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("ENCRYPTION_KEY", "y" * 40)
    monkeypatch.setenv("CA_ENCRYPTION_KEY", "z" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("DOCS_ENABLED", raising=False)
    assert create_app("production").config["DOCS_ENABLED"] is False
    monkeypatch.setenv("DOCS_ENABLED", "1")
    assert create_app("production").config["DOCS_ENABLED"] is True


def test_response_only_schemas_promise_every_field_request_schemas_keep_theirs(app):
    schemas = build_spec(app)["components"]["schemas"]
    assert set(schemas["User"]["required"]) == set(schemas["User"]["properties"])
    assert schemas["User"]["properties"]["has_password"]["type"] == "boolean"
    assert {"token", "csrf_token"} <= set(schemas["LoginSession"]["required"])
    assert "required" not in schemas["UserUpdate"]  # PATCH: every field optional
    assert set(schemas["Register"]["required"]) == {"email", "password"}


def test_redirect_and_xml_routes_document_their_own_success(app):
    paths = build_spec(app)["paths"]
    login = paths["/api/v1/auth/external/{provider}/login"]["get"]
    assert "Location" in login["responses"]["302"]["headers"]
    assert {p["name"] for p in login["parameters"]} == {"provider", "next", "link"}
    assert login["responses"]["404"] == {"$ref": "#/components/responses/Error404"}
    metadata = paths["/api/v1/auth/saml/{org_slug}/metadata"]["get"]["responses"]["200"]
    assert set(metadata["content"]) == {"application/samlmetadata+xml"}
    acs = paths["/api/v1/auth/saml/{org_slug}/acs"]["post"]
    assert set(acs["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}


def test_list_routes_document_pagination_and_the_views_filter_schema(app):
    spec = build_spec(app)
    audit = spec["paths"]["/api/v1/organizations/{org_id}/audit-logs"]["get"]
    query = {p["name"] for p in audit["parameters"] if p["in"] == "query"}
    assert query == {"page", "per_page", "action", "actor", "since", "until"}
    assert "403" in audit["responses"] and "422" in audit["responses"]
    create = spec["paths"]["/api/v1/organizations"]["post"]
    assert "201" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrganizationCreate"
    }
    forgot = spec["paths"]["/api/v1/auth/password/forgot"]["post"]
    assert "202" in forgot["responses"]
    assert spec["components"]["schemas"]["SsoConnection"]["properties"]["type"]["type"] == "string"
