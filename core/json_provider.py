"""JSON for the app's answers through orjson: the list API encodes a page on every reload, and
the standard library's encoder was the largest piece of Python in it (issue 10's profile).

The output keeps Flask's conventions where orjson's own differ: dates as HTTP dates, dataclasses
and anything else through Flask's ``default``, sorted keys. Non-ASCII characters are written as
UTF-8 rather than ``\\uXXXX`` escapes; both are JSON, and the ``tojson`` template filter still
escapes ``<``, ``>``, ``&`` and ``'`` for HTML.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's default provider with orjson underneath (``app.json``)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # Callers that ask for the standard library's options (indent, separators, ...) get it.
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self.dumps_bytes(obj).decode()

    def dumps_bytes(self, obj: Any) -> bytes:
        option = _OPTIONS | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
        return orjson.dumps(obj, default=self.default, option=option)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return super().loads(s, **kwargs) if kwargs else orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented, for a person reading it
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps_bytes(obj) + b"\n", mimetype=self.mimetype)
