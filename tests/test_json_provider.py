"""The app's JSON (``core/json_provider.py``): orjson underneath, Flask's conventions on top."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, jsonify, render_template_string


@dataclass
class Point:
    x: int
    label: str


def test_answers_keep_flasks_conventions(app: Flask) -> None:
    @app.get("/_json")
    def answer():  # type: ignore[no-untyped-def]
        return jsonify(b=1, a=Point(2, "Привет"), at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC), ids={3: "x"})

    response = app.test_client().get("/_json")
    assert response.mimetype == "application/json"
    assert response.data.endswith(b"\n")
    # Sorted keys, dates as HTTP dates (not orjson's ISO form), dataclasses as objects, UTF-8.
    assert response.data.decode() == (
        '{"a":{"label":"Привет","x":2},"at":"Tue, 01 Dec 2026 09:30:00 GMT","b":1,"ids":{"3":"x"}}\n'
    )


def test_debug_answers_are_indented_for_a_person(app: Flask) -> None:
    app.debug = True
    with app.test_request_context():
        body = jsonify(a=[1]).get_data(as_text=True)
    assert body == '{\n  "a": [\n    1\n  ]\n}\n'


def test_tojson_in_a_page_still_escapes_html(app: Flask) -> None:
    with app.test_request_context():
        page = render_template_string("<script>{{ data|tojson }}</script>", data={"name": "</script><b>'&"})
    assert "</script><b>" not in page.removesuffix("</script>")
    assert json.loads(page.removeprefix("<script>").removesuffix("</script>")) == {"name": "</script><b>'&"}


def test_loads_accepts_what_requests_send(app: Flask) -> None:
    assert app.json.loads(b'{"active": true, "ids": [1, 2]}') == {"active": True, "ids": [1, 2]}
    assert app.json.loads('{"name": "Fluß"}') == {"name": "Fluß"}
