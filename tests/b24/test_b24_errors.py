"""Classification of Bitrix24 answers: typed errors from bodies, batch items, PHP containers."""

from __future__ import annotations

import pytest

from b24.client import BatchResult
from b24.errors import (
    B24Error,
    ExpiredToken,
    FlowError,
    InsufficientScope,
    MethodNotFound,
    OperationTimeLimit,
    RateLimited,
    ServerError,
    error_from_response,
)

KEYS = {"a": "a", "b": "b", "c": "c"}


@pytest.mark.parametrize(
    "description",
    [
        "Access denied or flow not found",
        "Доступ запрещен или поток не найден",
        "Flow not found",
        "Acceso denegado o flujo no encontrado",
        "Brak dostępu lub nie znaleziono przepływu",
        "A flow with this name already exists",
    ],
)
@pytest.mark.parametrize("status", [400, 200])
def test_a_flow_refusal_is_one_kind_whatever_its_language(description, status):
    # The text is the portal's language file; only the code and status are the protocol's.
    error = error_from_response(status, {"error": "0", "error_description": description})
    assert type(error) is FlowError
    assert (error.description, error.status) == (description, status)


def test_a_numeric_code_with_a_server_error_status_is_a_server_error():
    error = error_from_response(500, {"error": "0", "error_description": "Unknown error"})
    assert type(error) is ServerError


def test_error_body_is_an_error_even_with_http_200():
    error = error_from_response(200, {"error": "wrong_client", "error_description": "x"})
    assert isinstance(error, B24Error)
    assert error.code == "wrong_client"
    assert error_from_response(200, {"result": True, "time": {}}) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": "expired_token", "error_description": "The access token provided has expired."},
            ExpiredToken,
        ),
        (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, RateLimited),
        (429, {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}, OperationTimeLimit),
        (404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, MethodNotFound),
        (502, None, ServerError),
        (200, None, ServerError),
    ],
)
def test_codes_and_bodies(status, body, expected):
    assert type(error_from_response(status, body)) is expected


def test_batch_items_become_typed_errors_per_key():
    payload = {
        "result": {
            "result": {"a": {"id": 1, "active": True}},
            "result_error": {
                "b": {"error": "0", "error_description": "Flow not found"},
                "c": {"error": "insufficient_scope", "error_description": ""},
            },
            "result_total": {"a": "7"},
            "result_next": [],
            "result_time": {"a": {}},
        }
    }
    batch = BatchResult.from_payload(payload, KEYS)
    assert batch.results == {"a": {"id": 1, "active": True}}
    assert type(batch.errors["b"]) is FlowError
    assert type(batch.errors["c"]) is InsufficientScope
    assert batch.totals == {"a": 7}
    assert batch.nexts == {}
    assert batch.get("a") == {"id": 1, "active": True}
    with pytest.raises(FlowError):
        batch.get("b")
    with pytest.raises(KeyError):
        batch.get("d")  # never ran
    assert batch.expired() is None


def test_php_empty_arrays_and_list_shaped_containers():
    # Keys 0..n-1 make PHP print lists; empty maps come as [].
    keys = {"0": 0, "1": 1, "2": 2}
    payload = {"result": {"result": ["x", "y"], "result_error": [], "result_total": [], "result_next": []}}
    batch = BatchResult.from_payload(payload, keys)
    assert batch.results == {0: "x", 1: "y"}
    assert batch.errors == {}
    with pytest.raises(KeyError):
        batch.get(2)  # never ran (halt)
    gaps = {"result": {"result": {"0": "x", "2": "z"}, "result_error": {"1": {"error": "ACCESS_DENIED"}}}}
    batch = BatchResult.from_payload(gaps, keys)
    assert batch.results == {0: "x", 2: "z"}
    assert batch.errors[1].code == "ACCESS_DENIED"
    everything_empty = BatchResult.from_payload({"result": []}, keys)
    assert everything_empty == BatchResult()


def test_expired_only_when_every_item_was_refused():
    refused = {"error": "expired_token", "error_description": "The access token provided has expired."}
    all_expired = {"result": {"result": [], "result_error": {"a": refused, "b": refused}}}
    assert isinstance(BatchResult.from_payload(all_expired, KEYS).expired(), ExpiredToken)
    partly = {"result": {"result": {"c": 1}, "result_error": {"a": refused}}}
    assert BatchResult.from_payload(partly, KEYS).expired() is None
