"""The registry's shorthand for envelope `data` turns into the JSON Schema it promises."""

from __future__ import annotations

import pytest

from app.api.docs import _data_schema
from app.schemas.auth import UserSchema


def test_none_is_an_empty_object():
    assert _data_schema(None) == {"type": "object", "additionalProperties": False}


def test_a_dict_lists_required_properties_and_refuses_others():
    schema = _data_schema({"user": UserSchema, "count": int, "type": str, "items": [bool]})
    assert schema["required"] == ["count", "items", "type", "user"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["user"] is UserSchema
    assert schema["properties"]["type"] == {"type": "string"}  # a property named "type"
    assert schema["properties"]["items"] == {"type": "array", "items": {"type": "boolean"}}


def test_a_raw_json_schema_passes_through_as_a_copy():
    raw = {"type": "string", "enum": ["ok"]}
    assert _data_schema(raw) == raw and _data_schema(raw) is not raw


def test_anything_else_is_refused_loudly():
    with pytest.raises(TypeError):
        _data_schema(3.5)


def test_a_non_envelope_success_is_documented_as_given():
    from app import create_app
    from app.api import openapi_registry as registry
    from app.api.docs import _operation

    app = create_app("testing")  # no database needed: the document comes from the routes
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "auth.me")
    redirect = {"description": "To the provider", "headers": {"Location": {"schema": {"type": "string"}}}}
    operation = _operation(app, rule, "GET", registry.Op(auth=registry.SESSION, responses={302: redirect}))
    assert operation["responses"]["302"] == redirect
    assert "200" not in operation["responses"]
    assert operation["responses"]["401"] == {"$ref": "#/components/responses/Error401"}
