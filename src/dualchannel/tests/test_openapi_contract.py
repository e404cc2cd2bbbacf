"""The OpenAPI document shows each operation's real shape: no two schemas share a component name.

Ninja keys ``components.schemas`` by class name and lets the last definition win, so two
``RegionOut`` classes in two modules made one operation document the other's shape.
"""

from __future__ import annotations

import types
import typing
from collections import defaultdict

import pydantic
import pytest
from ninja.openapi.schema import OpenAPISchema

from dualchannel.config.api import ErrorOut, api


def _operations():
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            yield from path_view.operations


def _models_in(annotation, found: dict[type, None]) -> None:
    """Every pydantic model an annotation reaches (list[X], X | None, dict[str, X], nesting)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        if annotation in found:
            return
        found[annotation] = None
        for field in annotation.model_fields.values():
            _models_in(field.annotation, found)
        return
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            _models_in(arg, found)


def _reachable_models() -> dict[type, None]:
    found: dict[type, None] = {}
    for operation in _operations():
        for model in operation.models:
            _models_in(model, found)
        for model in operation.response_models.values():
            _models_in(model, found)
    return found


def test_every_schema_reachable_from_the_routes_has_its_own_name():
    # given every request and response model of every operation, nested ones included
    by_name: dict[str, set[str]] = defaultdict(set)
    for model in _reachable_models():
        if model.__module__.startswith("dualchannel."):
            by_name[model.__name__].add(f"{model.__module__}.{model.__qualname__}")

    # then no class name is used by two classes
    shared = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert shared == {}


def test_no_two_definitions_collapse_into_one_component(monkeypatch):
    # given a record of every definition Ninja files under components.schemas
    filed: dict[str, list[dict]] = defaultdict(list)
    original = OpenAPISchema.add_schema_definitions

    def recording(self, definitions: dict) -> None:
        for name, definition in definitions.items():
            if definition not in filed[name]:
                filed[name].append(definition)
        original(self, definitions)

    monkeypatch.setattr(OpenAPISchema, "add_schema_definitions", recording)

    # when the document is built
    document = api.get_openapi_schema()

    # then each component name stands for one definition only
    collapsed = sorted(name for name, definitions in filed.items() if len(definitions) > 1)
    assert collapsed == []
    assert set(filed) <= set(document["components"]["schemas"])


@pytest.mark.parametrize(
    ("path", "method", "component", "property_name"),
    [
        ("/api/v1/public/regions", "get", "PublicRegionOut", "level"),
        ("/api/v1/portal/me", "get", "PortalProfileOut", "bound"),
        ("/api/v1/registry/profiles/{region_code}", "get", "PolicyProfileOut", "region_name"),
    ],
)
def test_an_operation_documents_its_own_response_shape(path, method, component, property_name):
    # given the document
    document = api.get_openapi_schema()
    operation = document["paths"][path][method]

    # when following the 200 response to its component
    schema = operation["responses"][200]["content"]["application/json"]["schema"]
    ref = schema.get("items", schema)["$ref"]

    # then it is the operation's own schema, with the operation's own fields
    assert ref == f"#/components/schemas/{component}"
    assert property_name in document["components"]["schemas"][component]["properties"]


def test_every_operation_documents_the_error_shape_of_its_refusals():
    # given the document
    document = api.get_openapi_schema()

    # then every operation answers 4xx and 5xx with ErrorOut, whose fields are the error shape
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status in ("4XX", "5XX"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
    detail = document["components"]["schemas"]["ErrorDetailOut"]
    assert set(detail["required"]) == {"code", "message", "fields"}


@pytest.mark.django_db
def test_refusals_have_the_documented_error_shape(client):
    # when a request without a token and one with a malformed body are refused
    unauthenticated = client.get("/api/v1/auth/me")
    invalid = client.post("/api/v1/auth/token", {"username": 1}, content_type="application/json")

    # then both bodies are ErrorOut
    assert unauthenticated.status_code == 401
    assert invalid.status_code == 422
    for response in (unauthenticated, invalid):
        ErrorOut.model_validate(response.json())
