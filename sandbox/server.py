"""``SandboxServer``: the portal and its authorization server on loopback, plus the control API for tests."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import data, lifecycle, portal_page, rest
from sandbox.frames import open_frame
from sandbox.keepalive import KeepAliveHandler
from sandbox.models import AppRegistration, Delivery, Flow, FlowChange, Notification, User
from sandbox.oauth_server import create_auth_app
from sandbox.settings import SandboxSettings
from sandbox.state import World
from sandbox.tls import CertificateAuthority, make_tls_server

Members = Iterable[int | list[str]]


def _pairs(members: Members) -> list[list[str]]:
    """User ids or ready ``[type, id]`` pairs -> pairs."""
    return [["user", str(m)] if isinstance(m, int) else [str(x) for x in m] for m in members]


def create_portal_app(world: World) -> Flask:
    # An explicit root, so the portal never picks up the app's own templates/ by accident.
    app = Flask(
        "sandbox", root_path=str(Path(__file__).parent), template_folder="templates", static_folder=None
    )
    app.extensions["sandbox_world"] = world
    app.register_blueprint(rest.bp)
    app.register_blueprint(portal_page.bp)
    return app


def _handler_class(world: World, name: str, sockets: set[socket.socket]) -> type[WSGIRequestHandler]:
    class Handler(KeepAliveHandler):
        def setup(self) -> None:
            self.timeout = world.settings.keepalive_timeout
            super().setup()
            with world.lock:
                world.connections[name] += 1
                sockets.add(self.connection)

        def finish(self) -> None:
            with world.lock:
                sockets.discard(self.connection)
            super().finish()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # quiet: tests make thousands of requests

    return Handler


def _origin(server: BaseWSGIServer) -> str:
    """``http://host:port``, or ``https://host`` for a TLS server on 443 (no port, like a real portal)."""
    if server.ssl_context is not None:
        return f"https://{server.server_address[0]}"
    return f"http://{server.server_address[0]}:{server.server_port}"


class SandboxServer:
    """A Bitrix24 portal and authorization server in this process, on loopback.

    Plain HTTP on ``host`` (127.0.0.1) and free or given ports; with ``tls`` (a test CA such
    as ``trustme.CA()``) each host is served over HTTPS on port 443 of its own 127.x.y.z,
    with a certificate from that CA, and the sandbox's own client trusts it for events.
    """

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        host: str = "127.0.0.1",
        portal_port: int = 0,
        auth_port: int = 0,
        seed: bool = True,
        tls: CertificateAuthority | None = None,
    ) -> None:
        self.world = World(settings)
        self.settings = self.world.settings
        self._host, self._ports = host, {"portal": portal_port, "auth": auth_port}
        self._tls = tls
        self._ca_file: Path | None = None
        self._servers: dict[str, BaseWSGIServer] = {}
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        if seed:
            data.seed(self.world)

    # --- lifetime ---------------------------------------------------------------------

    def _serve(self, name: str, app: Flask) -> BaseWSGIServer:
        handler = _handler_class(self.world, name, self._sockets)
        if self._tls is not None:
            return make_tls_server(app, handler, self._tls)
        return make_server(self._host, self._ports[name], app, threaded=True, request_handler=handler)

    def _trust_ca(self) -> None:
        """Event deliveries to an app served with a certificate from the same CA verify it."""
        if self._tls is None:
            return
        handle, path = tempfile.mkstemp(prefix="sandbox-ca-", suffix=".pem")
        os.close(handle)
        self._tls.cert_pem.write_to_path(path)
        self._ca_file = Path(path)
        self.world.dispatcher.verify = path

    def start(self) -> SandboxServer:
        apps = {"portal": create_portal_app(self.world), "auth": create_auth_app(self.world)}
        for name, app in apps.items():
            self._servers[name] = self._serve(name, app)
        self.world.bind(_origin(self._servers["portal"]), _origin(self._servers["auth"]))
        self._trust_ca()
        for name, server in self._servers.items():
            # A short poll interval keeps stop() (one per test) fast.
            thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name=f"sandbox-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        with self.world.lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # idle keep-alive connections would outlive the server
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        self.world.dispatcher.stop()
        if self._ca_file is not None:
            self._ca_file.unlink(missing_ok=True)
            self._ca_file = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------

    @property
    def portal_url(self) -> str:
        return self.world.portal_url

    @property
    def auth_url(self) -> str:
        return self.world.auth_url

    @property
    def domain(self) -> str:
        return self.world.domain

    @property
    def member_id(self) -> str:
        return self.world.member_id

    @property
    def client_endpoint(self) -> str:
        return self.world.client_endpoint

    @property
    def server_endpoint(self) -> str:
        return self.world.server_endpoint

    @property
    def app(self) -> AppRegistration | None:
        return self.world.app

    @property
    def application_token(self) -> str:
        return self.world.application_token

    @property
    def install_state(self) -> str:
        """``absent``, ``pending`` (installer not finished) or ``installed``."""
        return self.world.install_state

    # --- the app's life -------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        app_url: str,
        installer_url: str,
        redirect_uri: str,
        install_event_url: str | None = None,
        scope: str = "task,user,placement",
        *,
        installed: bool = False,
        name: str = "Flow Switch",
        code: str = "",
    ) -> AppRegistration:
        """The admin adds the app: a new installation whose installer has yet to run (or skipped).

        ``code`` is app.info's CODE: a local app's is its client id; a market app's defaults to
        ``models.MARKET_CODE``."""
        app = AppRegistration(
            client_id,
            client_secret,
            app_url,
            installer_url,
            redirect_uri,
            install_event_url,
            scope,
            name=name,
            code=code,
        )
        self.world.register_app(app, installed=installed)
        return app

    def issue_tokens(self, user_id: int) -> dict[str, Any]:
        return self.world.issue_tokens(user_id)

    def frame_post(
        self,
        user_id: int,
        lang: str = "en",
        placement: str = "DEFAULT",
        placement_options: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, str]]:
        """Exactly what the portal page POSTs into the iframe: (URL with query, form fields)."""
        frame = open_frame(self.world, user_id, lang, placement, placement_options)
        return frame.url, frame.form

    def install(self) -> None:
        lifecycle.install(self.world)

    def finish_install(self, user_id: int = data.ADMIN) -> list[Delivery]:
        return lifecycle.finish_install(self.world, user_id)

    def uninstall(self, clean: bool = True) -> list[Delivery]:
        """Returns the deliveries already made (none while events are held or queued)."""
        return lifecycle.uninstall(self.world, clean)

    def update_app(self, user_id: int = data.ADMIN) -> list[Delivery]:
        """A new version; with ``settings.update_reinstalls`` handlers go and the installer re-opens."""
        return lifecycle.update_app(self.world, user_id)

    def expire_access_tokens(self, user_id: int | None = None) -> int:
        with self.world.lock:
            return self.world.tokens.expire(user_id)

    # --- time ---------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> None:
        """Move the portal's clock forward: tokens and codes age, flow activity and notices are stamped later."""
        self.world.clock.advance(seconds)

    def now(self) -> datetime:
        """The portal's time (UTC)."""
        return self.world.clock.now()

    def set_time_zone(self, user_id: int, zone: str) -> None:
        """A user's TIME_ZONE (an IANA name), or "" for the automatic zone."""
        if zone:
            ZoneInfo(zone)  # raises for an unknown zone
        with self.world.lock:
            self.world.user(user_id).time_zone = zone

    # --- content ---------------------------------------------------------------------

    def add_flow(
        self,
        name: str | None = None,
        *,
        owner_id: int = data.OWNER,
        creator_id: int | None = None,
        team: Members = (),
        task_creators: Members | None = None,
        active: bool = True,
        **fields: Any,
    ) -> int:
        """A flow; ``team``/``task_creators`` take user ids or pairs (default creators: all users)."""
        with self.world.lock:
            if task_creators is not None:
                fields["task_creators"] = _pairs(task_creators)
            name = name or f"Flow #{len(self.world.flows) + 1}"
            return self.world.add_flow(
                name, owner_id=owner_id, creator_id=creator_id, team=_pairs(team), active=active, **fields
            )

    def flow(self, flow_id: int) -> Flow:
        return self.world.flows[flow_id]

    def add_task(
        self, title: str, *, created_by: int, responsible_id: int | None = None, flow_id: int | None = None
    ) -> int:
        return self.world.add_task(
            title, created_by=created_by, responsible_id=responsible_id, flow_id=flow_id
        )

    def seed_many_flows(self, count: int, *, with_tasks: bool = False) -> list[int]:
        return data.seed_many_flows(self.world, count, with_tasks=with_tasks)

    # --- people: users, departments, workgroups ------------------------------------------------

    def add_users(self, count: int, *, department: int = 1, active: bool = True) -> list[int]:
        """``count`` more users ("User 5", ...) in ``department`` (0: extranet users)."""
        with self.world.lock:
            start = max(self.world.users) + 1
            for user_id in range(start, start + count):
                self.world.users[user_id] = User(
                    user_id, "User", str(user_id), f"user{user_id}@sandbox.test", active=active, department=department
                )
            return list(range(start, start + count))

    def move_user(self, user_id: int, department: int) -> None:
        """Put a user in another department (0: make them an extranet user)."""
        with self.world.lock:
            self.world.user(user_id).department = department

    def add_department(self, name: str, *, parent: int | None = 1, head: int = 0) -> int:
        """A department under ``parent`` (the seeded company root is 1, its "Field office" 2)."""
        return self.world.add_department(name, parent=parent, head=head)

    def add_group(self, name: str, *, owner_id: int, members: Iterable[int] = (), visible: bool = True) -> int:
        """A workgroup: ``visible`` ones are listed to everyone, the others only to their members."""
        return self.world.add_group(name, owner_id=owner_id, members=members, visible=visible)

    # --- faults ------------------------------------------------------------------------

    def inject_rest_errors(
        self, code: str, count: int = 1, methods: Iterable[str] | None = None, *, per_call: bool = False
    ) -> None:
        """The next ``count`` REST HTTP requests (touching ``methods``) answer ``code`` without running;
        with ``per_call``, the next ``count`` calls of ``methods`` (batch items one by one) do."""
        wanted = None if methods is None else set(methods)
        self.world.inject_rest_errors(code, count, wanted, per_call=per_call)

    def operating(self, method: str) -> float:
        """The app's accumulated execution seconds of ``method`` in the current window."""
        with self.world.lock:
            return self.world.operating.operating(self.world.require_registration().client_id, method)

    # --- event delivery --------------------------------------------------------------

    def hold_events(self) -> None:
        """Keep every event from now on, unsent, until ``release_events``."""
        self.world.dispatcher.hold()

    @property
    def held_events(self) -> list[tuple[str, str]]:
        """(event, url) of each held event, in the order the portal sent them."""
        return self.world.dispatcher.held

    def release_events(self, order: Sequence[int] | None = None) -> list[Delivery]:
        """Send the held events: all in arrival order, or the held positions in ``order``, in that
        order; the rest stay held, and so do new events, until none is left."""
        return self.world.dispatcher.release(order)

    def drop_next(self, event: str, count: int = 1) -> None:
        """Lose the next ``count`` deliveries of ``event``; they are recorded as dropped."""
        self.world.dispatcher.drop_next(event, count)

    def wait_for_events(self, timeout: float = 10.0) -> bool:
        """Until every queued event has been sent (``event_delivery = "queue"``); False on timeout."""
        return self.world.dispatcher.wait(timeout)

    # --- counters ---------------------------------------------------------------------

    def calls(self, method: str | None = None, user_id: int | None = None) -> int:
        """Executed method calls (batch sub-calls included), by documented method name."""
        with self.world.lock:
            return sum(
                n
                for (name, user), n in self.world.calls.items()
                if (method is None or name == method) and (user_id is None or user == user_id)
            )

    def rejected(self, code: str | None = None) -> int:
        """Error answers given (REST, batch items, token endpoint), optionally of one code."""
        with self.world.lock:
            return sum(self.world.rejected.values()) if code is None else self.world.rejected[code]

    @property
    def rest_requests(self) -> int:
        """HTTP requests to the portal's REST endpoint (round trips; a batch is one)."""
        return self.world.rest_requests

    @property
    def most_in_flight(self) -> int:
        """The most REST requests the portal was answering at once since the last reset."""
        return self.world.most_in_flight

    @property
    def refresh_grants(self) -> int:
        return self.world.refresh_grants

    @property
    def code_grants(self) -> int:
        return self.world.code_grants

    @property
    def app_info_checks(self) -> int:
        return self.world.app_info_checks

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted by the portal server."""
        return self.world.connections["portal"]

    @property
    def auth_connections_opened(self) -> int:
        return self.world.connections["auth"]

    @property
    def events_delivered(self) -> list[Delivery]:
        with self.world.lock:
            return list(self.world.deliveries)

    def flow_changes(self) -> list[FlowChange]:
        """Every switch ``activate`` made, in order: flow_id, user_id (whose token), active, at."""
        with self.world.lock:
            return list(self.world.flow_changes)

    def notifications(self, user_id: int) -> list[Notification]:
        """What the user's notification list shows now, newest first (a TAG keeps only the newest)."""
        with self.world.lock:
            return self.world.notifications.for_user(user_id)

    @property
    def notifications_sent(self) -> int:
        """Notices added (replaced ones included); refused calls and unknown recipients do not count."""
        return self.world.notifications_sent

    @property
    def sessid(self) -> str:
        """``bitrix_sessid``: with the ``sandbox_user`` cookie it makes a REST call session-authorized."""
        return self.world.sessid

    def reset_counters(self) -> None:
        self.world.reset_counters()
