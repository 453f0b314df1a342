"""The Bitrix24 REST client every service uses: ``call`` and ``batch`` with typed errors.

Each request is ``POST {client_endpoint}{method}`` with a JSON body and the user's own
``Authorization: Bearer`` token. Any body with an ``error`` key is an error, whatever
the status. What may be repeated is decided here:

- ``expired_token``: refresh the token and repeat once (the method did not run);
- ``QUERY_LIMIT_EXCEEDED`` and lost connections: repeated with backoff only for
  idempotent calls. ``tasks.flow.Flow.activate`` is a toggle, so a repeat after a request
  that may have arrived would undo it; only a connection that was never opened is
  retried for such calls.
- ``OPERATION_TIME_LIMIT``: never repeated; the method is blocked for the portal until its
  window moves on (``b24/operating.py``), and calls of it are refused without a request.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests

from b24.encoding import http_build_query
from b24.errors import (
    B24Error,
    ExpiredToken,
    OperationTimeLimit,
    PortalUnreachable,
    error_from_payload,
    error_from_response,
)
from b24.http import get_session, post
from b24.ratelimit import PortalRateLimiter

log = logging.getLogger(__name__)

BATCH_LIMIT = 50
MAX_BACKOFF = 10.0

# Method names go into the URL path and into batch command strings: letters, digits,
# "_" and dots only, sent in the caller's spelling (``tasks.flow.Flow.get``).
_METHOD = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")

T = TypeVar("T")
Key = Any  # a batch command's key: the caller's string, or the index in a list of commands
Command = tuple[str, Mapping[str, Any] | None]  # (method, params)


class TokenSource(Protocol):
    def access_token(self) -> str:
        """A token believed valid (refreshed first if about to expire)."""
        ...

    def refresh(self, stale_access_token: str) -> str:
        """A new token after ``stale_access_token`` was refused as expired."""
        ...


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _keyed(container: Any, keys: Mapping[str, Key]) -> dict[Key, Any]:
    # PHP writes an empty map as [] and a map with keys 0..n-1 as a JSON list.
    items = enumerate(container) if isinstance(container, list) else (container or {}).items()
    return {keys[str(k)]: value for k, value in items if str(k) in keys}


def _counts(container: Any, keys: Mapping[str, Key]) -> dict[Key, int]:
    counts = {key: _as_int(value) for key, value in _keyed(container, keys).items()}
    return {key: n for key, n in counts.items() if n is not None}


@dataclass(frozen=True)
class RestResult:
    result: Any
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] | None = None


def _rest_result(payload: dict[str, Any]) -> RestResult:
    return RestResult(
        payload.get("result"),
        _as_int(payload.get("total")),
        _as_int(payload.get("next")),
        payload.get("time"),
    )


@dataclass(frozen=True)
class BatchResult:
    """Per-command outcomes, keyed like the commands. With ``halt`` later keys may be absent."""

    results: dict[Key, Any] = field(default_factory=dict)
    errors: dict[Key, B24Error] = field(default_factory=dict)
    totals: dict[Key, int] = field(default_factory=dict)
    nexts: dict[Key, int] = field(default_factory=dict)

    def get(self, key: Key) -> Any:
        """The command's result; raises its typed error (``KeyError`` if it never ran)."""
        if key in self.errors:
            raise self.errors[key]
        return self.results[key]

    def absorb(self, other: BatchResult) -> None:
        """Take in ``other``'s outcomes; a later success replaces an earlier error of the same key."""
        for key in other.results:
            self.errors.pop(key, None)
        self.results.update(other.results)
        self.errors.update(other.errors)
        self.totals.update(other.totals)
        self.nexts.update(other.nexts)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], keys: Mapping[str, Key]) -> BatchResult:
        """A decoded ``batch`` answer; ``keys`` maps each key as sent (a string) to the caller's key."""
        body = payload.get("result")
        if not isinstance(body, dict):
            body = {}
        errors = {
            key: error_from_payload(item) for key, item in _keyed(body.get("result_error"), keys).items()
        }
        return cls(
            results=_keyed(body.get("result"), keys),
            errors={key: error for key, error in errors.items() if error is not None},
            totals=_counts(body.get("result_total"), keys),
            nexts=_counts(body.get("result_next"), keys),
        )

    def expired(self) -> ExpiredToken | None:
        """The ``expired_token`` error when it refused the whole batch (nothing ran)."""
        found = [error for error in self.errors.values() if isinstance(error, ExpiredToken)]
        if found and not self.results and len(found) == len(self.errors):
            return found[0]
        return None


def validate_endpoint(client_endpoint: str) -> str:
    """``client_endpoint`` if it is a plain ``http(s)://host/.../rest/`` URL; else ``ValueError``."""
    parts = urlsplit(client_endpoint)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or not parts.path.endswith("/rest/")
    ):
        raise ValueError(f"not a Bitrix24 REST endpoint like https://portal/rest/: {client_endpoint!r}")
    return client_endpoint


def _method(name: str) -> str:
    if not _METHOD.fullmatch(name):
        raise ValueError(f"not a REST method name: {name!r}")
    return name


def chunked(items: Iterable[T], size: int = BATCH_LIMIT) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``: e.g. ``for part in chunked(cmds.items()): batch(dict(part))``."""
    iterator = iter(items)
    while part := list(islice(iterator, size)):
        yield part


def _batch_result(payload: dict[str, Any], keys: Mapping[str, Key]) -> BatchResult:
    result = BatchResult.from_payload(payload, keys)
    expired = result.expired()
    if expired is not None:
        raise expired  # the token was refused before anything ran: refresh and repeat
    return result


class RestClient:
    """A portal's REST API acting as one user (the owner of ``tokens``)."""

    def __init__(
        self,
        client_endpoint: str,
        tokens: TokenSource,
        *,
        limiter: PortalRateLimiter | None = None,
        timeout: float = 15.0,
        session: requests.Session | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        rate_wait: float | None = None,
    ) -> None:
        self.client_endpoint = validate_endpoint(client_endpoint)
        self.tokens = tokens
        self.limiter = limiter
        self.timeout = timeout
        # The longest wait for a slot in the portal's budget before answering RateLimited
        # (a user waiting on the answer should hear "busy" soon); default: ``timeout``.
        self.rate_wait = timeout if rate_wait is None else rate_wait
        self.session = session
        self.max_retries = max_retries
        self.backoff = backoff
        # Slots of the portal's budget the caller took beforehand (see ``prepay``).
        self._prepaid = 0
        self._prepaid_lock = threading.Lock()

    def prepay(self, slots: int) -> None:
        """The next ``slots`` requests were already counted in the portal's budget by the caller.

        A switch takes its budget before it takes the flow's lock, so it never waits for
        the budget while others wait for the lock; its requests then go out at once.
        """
        with self._prepaid_lock:
            self._prepaid = slots

    def unused_prepaid(self) -> int:
        """The prepaid slots no request used (e.g. a switch that found the flow in its state), now forgotten."""
        with self._prepaid_lock:
            unused, self._prepaid = self._prepaid, 0
        return unused

    def _take_slot(self, methods: Iterable[str]) -> None:
        with self._prepaid_lock:
            if self._prepaid:
                self._prepaid -= 1  # the caller's script checked the budget and the methods' window
                return
        if self.limiter is not None:
            # Its RateLimited is final (it already waited), and so is OperationTimeLimit.
            self.limiter.acquire(self.rate_wait, methods=methods)

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, idempotent: bool = True
    ) -> RestResult:
        """One method call; raises the typed ``B24Error`` the portal answered."""
        return self._request(_method(method), dict(params or {}), idempotent, _rest_result, {"": method})

    def batch(
        self,
        commands: Mapping[Key, Command] | Sequence[Command],
        *,
        halt: bool = False,
        idempotent: bool = True,
    ) -> BatchResult:
        """Up to 50 ``(method, params)`` commands in one request (one slot of the rate limit).

        Params may hold ``$result[key][field]`` references to earlier commands. Item
        errors are returned per key, not raised; see ``BatchResult.get``.
        """
        if len(commands) > BATCH_LIMIT:
            raise ValueError(
                f"a batch holds at most {BATCH_LIMIT} commands, not {len(commands)}; use chunked()"
            )
        pairs = commands.items() if isinstance(commands, Mapping) else enumerate(commands)
        keys: dict[str, Key] = {}
        cmd: dict[str, str] = {}
        for key, (method, params) in pairs:
            query = http_build_query(params or {})
            keys[str(key)] = key
            cmd[str(key)] = f"{_method(method)}?{query}" if query else _method(method)
        body = {"halt": int(halt), "cmd": cmd if isinstance(commands, Mapping) else list(cmd.values())}
        methods = {key: command.partition("?")[0] for key, command in cmd.items()}
        result = self._request("batch", body, idempotent, lambda payload: _batch_result(payload, keys), methods)
        for key, error in result.errors.items():
            if isinstance(error, OperationTimeLimit):
                self._refused(methods[str(key)], error)
        return result

    def batch_all(self, commands: Mapping[Key, Command], *, concurrency: int = 4) -> BatchResult:
        """Any number of read commands: batches of 50, ``concurrency`` of them in flight at once.

        A batch can answer while some of its items were refused for the portal's limits
        (``OPERATION_TIME_LIMIT``, ``QUERY_LIMIT_EXCEEDED``); those did not run, so they are
        sent again after a pause, up to ``max_retries`` times. An error of a whole request
        is raised as ``batch`` raises it.
        """
        merged = BatchResult()
        pending = dict(commands)
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_delay(attempt - 1))
            for answer in self.batches([dict(part) for part in chunked(pending.items())], concurrency=concurrency):
                if isinstance(answer, B24Error):
                    raise answer
                merged.absorb(answer)
            pending = {key: pending[key] for key, error in merged.errors.items() if error.retryable}
            if not pending:
                break
        return merged

    def batches(
        self, parts: Sequence[Mapping[Key, Command]], *, concurrency: int = 4, idempotent: bool = True
    ) -> list[BatchResult | B24Error]:
        """Several ``batch`` requests (each ≤ 50 commands), ``concurrency`` in flight at once.

        Each part's answer, or the error of its whole request, in the order of ``parts``: a
        failed request does not hide what the others did (a toggle must know which ran).
        """

        def one(part: Mapping[Key, Command]) -> BatchResult | B24Error:
            try:
                return self.batch(part, idempotent=idempotent)
            except B24Error as exc:
                return exc

        if len(parts) <= 1:
            return [one(part) for part in parts]
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(parts)))) as pool:
            return list(pool.map(one, parts))

    def _request(
        self,
        method: str,
        body: dict[str, Any],
        idempotent: bool,
        parse: Callable[[dict[str, Any]], T],
        methods: Mapping[str, str],
    ) -> T:
        """Send ``method``; ``methods`` names the methods it runs (a batch's by command key, else ``""``)."""
        token = self.tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            self._take_slot(methods.values())
            try:
                payload = self._send(method, body, token)
                self._observe(payload, methods)
                return parse(payload)
            except ExpiredToken:
                if refreshed:
                    raise
                log.info("b24 %s: access token expired, refreshing", method)
                token, refreshed = self.tokens.refresh(token), True
            except B24Error as exc:
                if isinstance(exc, OperationTimeLimit) and "" in methods:
                    self._refused(methods[""], exc)  # a whole batch refused: which method, it does not say
                if attempt >= self.max_retries or not self._may_repeat(exc, idempotent):
                    raise
                delay = self.backoff_delay(attempt)
                attempt += 1
                log.info("b24 %s: %s, attempt %d in %.2f s", method, exc.code, attempt + 1, delay)
                time.sleep(delay)

    def _observe(self, payload: Mapping[str, Any], methods: Mapping[str, str]) -> None:
        """Each method's ``time`` block tells when its operating window resets."""
        window = self.limiter.window if self.limiter is not None else None
        if window is None:
            return
        if "" in methods:
            window.observe(methods[""], payload.get("time"))
            return
        body = payload.get("result")
        times = body.get("result_time") if isinstance(body, dict) else None
        for key, timing in (times.items() if isinstance(times, dict) else enumerate(times or [])):
            if str(key) in methods:
                window.observe(methods[str(key)], timing)

    def _refused(self, method: str, error: OperationTimeLimit) -> None:
        window = self.limiter.window if self.limiter is not None else None
        if window is not None:
            error.retry_after = window.refused(method)

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before repeat number ``attempt + 1`` of a refused read."""
        # Exponential with jitter, so workers refused together do not return together.
        ceiling = min(MAX_BACKOFF, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    @staticmethod
    def _may_repeat(exc: B24Error, idempotent: bool) -> bool:
        if isinstance(exc, PortalUnreachable):
            return idempotent or not exc.request_sent
        return idempotent and exc.retryable

    def _send(self, method: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        host = urlsplit(self.client_endpoint).hostname
        started = time.monotonic()
        status = 0
        try:
            status, payload = post(
                self.session or get_session(),
                self.client_endpoint + method,
                json=body,
                token=token,
                timeout=self.timeout,
            )
            error = error_from_response(status, payload)
        except B24Error as exc:
            error = exc
        elapsed = (time.monotonic() - started) * 1000
        if error is not None:
            log.info("b24 %s %s -> %s %s in %.0f ms", host, method, status or "-", error.code, elapsed)
            raise error
        log.debug("b24 %s %s -> %s in %.0f ms", host, method, status, elapsed)
        assert payload is not None  # error_from_response reports a missing body
        return payload
