"""API documentation: the OpenAPI 3 document at /api/openapi.json and Swagger UI at /api/docs.

The document is generated from app/api/openapi_registry.py and the app's url_map with apispec's
marshmallow plugin, so request bodies are described by the same schemas that validate them.
Both routes answer 404 (in the envelope) when DOCS_ENABLED is off (the production default).
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, send_from_directory, url_for
from marshmallow import Schema, fields
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import Rule

from app import errors
from app.api import openapi_registry as registry
from app.envelope import ENVELOPE_VERSION
from app.schemas.fields import Email, Password, SafeString

bp = Blueprint("docs", __name__, url_prefix="/api")

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"
CACHE_KEY = "authy2_openapi"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
DOCUMENTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What each error status can carry in error.type (DESIGN §2).
ERROR_TYPES: dict[int, tuple[str, str]] = {
    400: ("Bad request: malformed JSON, a body that is not an object, or a bad value", "BAD_REQUEST"),
    401: ("Not authenticated: no, invalid or expired credentials", "AUTHENTICATION_ERROR"),
    403: ("Not allowed (including a missing or wrong CSRF token)", "AUTHORIZATION_ERROR"),
    404: ("Not found (or not visible to the caller)", "NOT_FOUND"),
    405: ("Method not allowed", "METHOD_NOT_ALLOWED"),
    409: ("Conflicts with existing data", "CONFLICT"),
    413: ("Body larger than MAX_CONTENT_LENGTH", "PAYLOAD_TOO_LARGE"),
    415: ("Body is not application/json", "UNSUPPORTED_MEDIA_TYPE"),
    422: ("Validation failed; details map each field to its messages", "VALIDATION_ERROR"),
    429: ("Rate limited; retry after the Retry-After header's seconds", "RATE_LIMIT_EXCEEDED"),
    500: ("Unexpected error (generic body)", "INTERNAL_ERROR"),
    503: ("A dependency (database, session store) is unavailable", "SERVICE_UNAVAILABLE"),
}
ALWAYS_POSSIBLE = (429, 503)
EXAMPLE_REQUEST_ID = "0b6f1c1e-6f0e-4d43-9a53-6c1d1c2b8a11"
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`data.session.token` from POST /api/v1/auth/login. No CSRF token needed.",
    },
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": "authy2_session",
        "description": "The HttpOnly session cookie set by login (browsers).",
    },
    "csrfHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The `csrf_token` cookie's value; required with cookieAuth on unsafe methods.",
    },
}
_FLASK_ARG_RE = re.compile(r"<(?:(?P<converter>[^:<>]+):)?(?P<name>[^<>]+)>")


class EnvelopeErrorSchema(Schema):
    """The `error` member of an error envelope."""

    type = fields.String(required=True, metadata={"enum": sorted({t for _, t in ERROR_TYPES.values()})})
    details = fields.Dict(required=True, metadata={"description": "field -> messages, or context"})


def _safe_string_attributes(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """Document our custom fields' limits and formats (they are not marshmallow validators)."""
    ret: dict[str, Any] = {}
    if isinstance(field, SafeString):
        ret["maxLength"] = field.max_length
        if field.min_length:
            ret["minLength"] = field.min_length
    elif isinstance(field, Email):
        ret["format"] = "email"
        ret["maxLength"] = 254
    elif isinstance(field, Password):
        ret["format"] = "password"
        ret["minLength"] = 1
        ret["maxLength"] = 1024
    return ret


def openapi_path(rule: Rule) -> str:
    """/api/v1/x/<uuid:id> -> /api/v1/x/{id}."""
    return _FLASK_ARG_RE.sub(lambda m: "{" + m.group("name") + "}", rule.rule)


def _path_parameters(rule: Rule, op: registry.Op) -> list[dict[str, Any]]:
    """Path parameters with types from the rule's converters."""
    params = []
    for match in _FLASK_ARG_RE.finditer(rule.rule):
        name, converter = match.group("name"), (match.group("converter") or "string").split("(")[0]
        schema: dict[str, Any] = {"type": "string"}
        if converter == "uuid":
            schema["format"] = "uuid"
        elif converter == "int":
            schema = {"type": "integer", "minimum": 0}
        if name in op.path_schemas:
            schema = copy.deepcopy(op.path_schemas[name])
        param = {"name": name, "in": "path", "required": True, "schema": schema}
        if name in op.path_params:
            param["description"] = op.path_params[name]
        params.append(param)
    return params


def _data_schema(spec: registry.DataSpec) -> Any:
    """Turn a registry `data` description into a schema apispec can resolve."""
    if spec is None:
        return {"type": "object", "additionalProperties": False}
    if isinstance(spec, Schema) or (isinstance(spec, type) and issubclass(spec, Schema)):
        return spec
    if isinstance(spec, list):
        return {"type": "array", "items": _data_schema(spec[0])}
    if spec is int:
        return {"type": "integer"}
    if spec is str:
        return {"type": "string"}
    if spec is bool:
        return {"type": "boolean"}
    if isinstance(spec, dict) and isinstance(spec.get("type"), str):
        return copy.deepcopy(spec)  # a raw JSON Schema ({"type": "string", ...})
    if isinstance(spec, dict):
        return {
            "type": "object",
            "properties": {key: _data_schema(value) for key, value in spec.items()},
            "required": sorted(spec),
            "additionalProperties": False,
        }
    raise TypeError(f"cannot describe {spec!r} in the OpenAPI document")


def _error_statuses(rule: Rule, method: str, op: registry.Op) -> list[int]:
    """Every error status the operation can answer with."""
    statuses = set(ALWAYS_POSSIBLE) | set(op.errors)
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.query is not None:
        statuses.add(422)
    if rule.arguments:
        statuses.add(404)
    if op.auth == registry.SESSION:
        statuses.add(401)
        if method in UNSAFE_METHODS:
            statuses.add(403)
    return sorted(statuses)


def _security(method: str, op: registry.Op) -> list[dict[str, list[str]]]:
    """Either a bearer token, or the session cookie (+ the CSRF header on unsafe methods)."""
    if op.auth != registry.SESSION:
        return []
    cookie: dict[str, list[str]] = {"cookieAuth": []}
    if method in UNSAFE_METHODS:
        cookie["csrfHeader"] = []
    return [{"bearerAuth": []}, cookie]


def _summary(app: Flask, endpoint: str, op: registry.Op) -> str:
    """The registry's summary, else the view docstring's first line."""
    if op.summary:
        return op.summary
    doc = inspect.getdoc(app.view_functions[endpoint]) or endpoint
    return doc.splitlines()[0].strip()


def _operation(app: Flask, rule: Rule, method: str, op: registry.Op) -> dict[str, Any]:
    """The OpenAPI operation object for one method of one rule."""
    endpoint = rule.endpoint
    success_schema = {
        "allOf": [
            {"$ref": "#/components/schemas/SuccessEnvelope"},
            {
                "type": "object",
                "properties": {
                    "code": {"type": "integer", "enum": [op.status]},
                    "data": _data_schema(op.data),
                    "meta": op.meta or {"$ref": "#/components/schemas/Meta"},
                },
            },
        ]
    }
    responses: dict[str, Any] = {
        str(op.status): {
            "description": _summary(app, endpoint, op),
            "content": {"application/json": {"schema": success_schema}},
        }
    }
    if op.responses:
        responses = {str(status): copy.deepcopy(response) for status, response in op.responses.items()}
    for status in _error_statuses(rule, method, op):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_") + ("" if _single_method(rule) else "_" + method.lower()),
        "summary": _summary(app, endpoint, op),
        "tags": list(op.tags or (endpoint.split(".", 1)[0],)),
        "security": _security(method, op),
        "responses": responses,
    }
    if op.description:
        operation["description"] = op.description
    parameters = _path_parameters(rule, op)
    queries = op.query if isinstance(op.query, tuple) else (op.query,) if op.query else ()
    parameters.extend({"in": "query", "schema": query} for query in queries)
    parameters.extend(copy.deepcopy(list(op.parameters)))
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        media: dict[str, Any] = {"schema": op.body}
        if op.example is not None:
            media["example"] = op.example
        operation["requestBody"] = {"required": not op.body_optional, "content": {"application/json": media}}
    elif op.request_body is not None:
        operation["requestBody"] = copy.deepcopy(op.request_body)
    return operation


def _single_method(rule: Rule) -> bool:
    """Whether the rule serves one documented method (operationIds then need no suffix)."""
    return len([m for m in DOCUMENTED_METHODS if m in (rule.methods or ())]) == 1


def _envelope_components(spec: APISpec) -> None:
    """SuccessEnvelope, ErrorEnvelope, Meta and one reusable error response per status."""
    common = {
        "version": {"type": "string", "enum": [ENVELOPE_VERSION]},
        "code": {"type": "integer", "description": "Equals the HTTP status."},
        "message": {"type": "string", "minLength": 1, "example": "Success"},
        "request_id": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9._-]{1,64}$",
            "description": "Echoed in the X-Request-ID header.",
            "example": EXAMPLE_REQUEST_ID,
        },
    }
    spec.components.schema(
        "Meta",
        {
            "type": "object",
            "description": "Pagination or counts; `{}` when there is nothing to say.",
            "properties": {
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "pages": {"type": "integer"},
            },
        },
    )
    spec.components.schema(
        "SuccessEnvelope",
        {
            "type": "object",
            "required": ["version", "success", "code", "message", "request_id", "data", "meta"],
            "properties": {
                **common,
                "success": {"type": "boolean", "enum": [True]},
                "data": {"type": "object"},
                "meta": {"$ref": "#/components/schemas/Meta"},
            },
        },
    )
    spec.components.schema("EnvelopeError", schema=EnvelopeErrorSchema)
    spec.components.schema(
        "ErrorEnvelope",
        {
            "type": "object",
            "required": ["version", "success", "code", "message", "request_id", "error"],
            "properties": {
                **common,
                "success": {"type": "boolean", "enum": [False]},
                "error": {"$ref": "#/components/schemas/EnvelopeError"},
            },
        },
    )
    for status, (description, error_type) in ERROR_TYPES.items():
        types = [error_type, "VALIDATION_ERROR"] if status == 400 else [error_type]
        response: dict[str, Any] = {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/ErrorEnvelope"},
                            {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "integer", "enum": [status]},
                                    "error": {
                                        "type": "object",
                                        "properties": {"type": {"type": "string", "enum": types}},
                                    },
                                },
                            },
                        ]
                    },
                    "example": {
                        "version": ENVELOPE_VERSION,
                        "success": False,
                        "code": status,
                        "message": description.split(":")[0].split(";")[0],
                        "request_id": EXAMPLE_REQUEST_ID,
                        "error": {"type": error_type, "details": {}},
                    },
                }
            },
        }
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        spec.components.response(f"Error{status}", response)


def documented_rules(app: Flask) -> list[Rule]:
    """Every rule under /api, in path order."""
    rules = [r for r in app.url_map.iter_rules() if r.rule == "/api" or r.rule.startswith("/api/")]
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for `app` as a dict (routes without a registry entry are left out)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Authy2 API",
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "Authentication and authorization API. Every response under /api uses the envelope "
                "`{version, success, code, message, request_id, data|error, meta}`; `code` equals the "
                "HTTP status. Authenticate with `Authorization: Bearer <token>` (from login) or the "
                "session cookie plus the X-CSRF-Token header on unsafe methods."
            )
        },
    )
    plugin.converter.add_attribute_function(_safe_string_attributes)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    _envelope_components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for rule in documented_rules(app):
        for method in DOCUMENTED_METHODS:
            if method not in (rule.methods or ()):
                continue
            op = registry.lookup(rule.endpoint, method)
            if op is None or op.hidden:
                continue
            paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(app, rule, method, op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    _require_response_properties(document)
    return document


ENVELOPE_COMPONENTS = frozenset({"SuccessEnvelope", "ErrorEnvelope", "EnvelopeError", "Meta"})


def _refs(node: Any, found: set[str]) -> set[str]:
    """Names of the component schemas `node` refers to (directly)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    """`names` and every component schema they reach."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name], set()))
    return seen


def _require_response_properties(document: dict[str, Any]) -> None:
    """Dump schemas always emit every field, so response-only components list them all as required.

    marshmallow's `required` is about loading; without this the document would promise nothing about
    what a response contains. Components also used in a request keep their own `required`.
    """
    schemas = document.get("components", {}).get("schemas", {})
    request_side: set[str] = set()
    response_side: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _refs(operation.get("requestBody", {}), request_side)
            _refs(operation.get("parameters", []), request_side)
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    _refs(response, response_side)
    targets = _closure(response_side, schemas) - _closure(request_side, schemas) - ENVELOPE_COMPONENTS
    for name in targets:
        component = schemas[name]
        properties = component.get("properties", {})
        readable = sorted(key for key, prop in properties.items() if not prop.get("writeOnly"))
        if readable and "required" not in component:
            component["required"] = readable


def get_spec(app: Flask) -> dict[str, Any]:
    """The app's document, built once per app (routes do not change after start-up)."""
    cached = app.extensions.get(CACHE_KEY)
    if cached is None:
        cached = app.extensions[CACHE_KEY] = build_spec(app)
    return cached


def _require_enabled() -> None:
    """404 (in the envelope) when the docs are switched off."""
    if not current_app.config.get("DOCS_ENABLED"):
        raise errors.NotFound()


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3 document (plain JSON, not wrapped in the envelope)."""
    _require_enabled()
    body = json.dumps(get_spec(current_app), ensure_ascii=False, separators=(",", ":"))
    return current_app.response_class(body, mimetype="application/json")


SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Authy2 API documentation</title>
<link rel="icon" type="image/png" href="{icon}">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""

# Kept out of the page so the page's CSP (script-src 'self') needs no 'unsafe-inline'.
SWAGGER_INIT = """(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrf_token=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : null;
  }
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: function (request) {
      var token = csrfToken();
      if (token && !request.headers["X-CSRF-Token"]) { request.headers["X-CSRF-Token"] = token; }
      return request;
    }
  });
})();
"""
SWAGGER_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})


@bp.get("/docs")
def swagger_ui() -> Response:
    """Swagger UI for the document above."""
    _require_enabled()
    page = SWAGGER_PAGE.format(
        icon=url_for("docs.swagger_asset", filename="favicon-32x32.png"),
        css=url_for("docs.swagger_asset", filename="swagger-ui.css"),
        bundle=url_for("docs.swagger_asset", filename="swagger-ui-bundle.js"),
        init=url_for("docs.swagger_init"),
        spec=url_for("docs.openapi_json"),
    )
    return current_app.response_class(page, mimetype="text/html")


@bp.get("/docs/init.js")
def swagger_init() -> Response:
    """Swagger UI's start-up script (points it at /api/openapi.json, adds the CSRF header)."""
    _require_enabled()
    return current_app.response_class(SWAGGER_INIT, mimetype="text/javascript")


@bp.get("/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> Response:
    """Swagger UI's static files, from the pip-installed swagger-ui-bundle package."""
    _require_enabled()
    if filename not in SWAGGER_ASSETS:
        raise errors.NotFound()
    response = send_from_directory(str(swagger_ui_path), filename, max_age=86400)
    # Versioned by the pinned package, so let browsers keep it (the API itself stays no-store).
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
