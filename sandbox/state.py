"""The in-memory world of one portal: its app, users, flows, tasks, tokens, bindings and counters.

Every read and write happens under ``World.lock`` (one RLock), so both servers' request
threads and the test thread may touch it at once.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.delivery import Dispatcher
from sandbox.errors import RestError
from sandbox.limits import LeakyBucket, OperatingWindow
from sandbox.models import (
    MEMBER_ROLE,
    OWNER_ROLE,
    REQUEST_ROLE,
    AppRegistration,
    Delivery,
    Department,
    EventBinding,
    Flow,
    FlowChange,
    Group,
    Placement,
    Task,
    User,
)
from sandbox.notifications import NotificationBook
from sandbox.settings import SandboxSettings
from sandbox.tokens import TokenBook

ABSENT, PENDING, INSTALLED = "absent", "pending", "installed"


@dataclass
class Fault:
    """An injected REST error for the next ``count`` matching HTTP requests (or method calls)."""

    error: RestError
    count: int
    methods: set[str] | None
    per_call: bool = False


@dataclass
class FrameSession:
    """What the portal knows about one rendered app frame (keyed by its APP_SID)."""

    user_id: int
    lang: str
    placement: str = "DEFAULT"
    placement_options: dict[str, Any] = field(default_factory=dict)


class World:
    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.lock = threading.RLock()
        self.settings = settings or SandboxSettings()
        self.clock = SandboxClock()
        self.member_id = secrets.token_hex(16)
        self.portal_url = self.auth_url = ""
        self.app: AppRegistration | None = None
        self.install_state = ABSENT
        self.application_token = ""
        self.users: dict[int, User] = {}
        self.flows: dict[int, Flow] = {}
        self.tasks: dict[int, Task] = {}
        self.departments: dict[int, Department] = {}
        self.groups: dict[int, Group] = {}
        self.tokens = TokenBook(self.settings, self.clock)
        self.notifications = NotificationBook()
        # The portal's CSRF token (``bitrix_sessid``): REST calls with it and the login cookie use session auth.
        self.sessid = secrets.token_hex(16)
        self.event_bindings: list[EventBinding] = []
        self.placements: list[Placement] = []
        self.app_options: dict[str, Any] = {}
        self.user_options: dict[int, dict[str, Any]] = {}
        self.pins: set[tuple[int, int]] = set()
        self.frames: dict[str, FrameSession] = {}
        self._sequence: Counter[str] = Counter({"group": 100})
        self._faults: list[Fault] = []
        self.bucket = LeakyBucket(self.settings)
        self.operating = OperatingWindow(self.settings, self.clock)
        self.dispatcher = Dispatcher(self.settings, self.record_delivery)
        self.in_flight = 0
        self.reset_counters()

    # --- addresses ------------------------------------------------------------------

    def bind(self, portal_url: str, auth_url: str) -> None:
        """The two origins, e.g. ``http://127.0.0.1:8081`` or ``https://127.4.5.6`` (no port on 443)."""
        self.portal_url, self.auth_url = portal_url, auth_url

    @property
    def domain(self) -> str:
        return self.portal_url.split("://", 1)[1]

    @property
    def protocol(self) -> int:
        """The frame's ``PROTOCOL``: 1 for https, 0 for http."""
        return int(self.portal_url.startswith("https://"))

    @property
    def auth_host(self) -> str:
        return self.auth_url.split("://", 1)[1]

    @property
    def client_endpoint(self) -> str:
        return f"{self.portal_url}/rest/"

    @property
    def server_endpoint(self) -> str:
        return f"{self.auth_url}/rest/"

    # --- ids, counters --------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._sequence[kind] += 1
            return self._sequence[kind]

    def reset_counters(self) -> None:
        with self.lock:
            self.calls: Counter[tuple[str, int]] = Counter()
            self.rejected: Counter[str] = Counter()
            self.rest_requests = 0
            self.most_in_flight = self.in_flight
            self.refresh_grants = 0
            self.code_grants = 0
            self.app_info_checks = 0
            self.connections: Counter[str] = Counter()
            self.deliveries: list[Delivery] = []
            self.flow_changes: list[FlowChange] = []
            self.notifications_sent = 0

    def count_call(self, method: str, user_id: int) -> None:
        with self.lock:
            self.calls[(method, user_id)] += 1

    def count_rejection(self, code: str) -> None:
        with self.lock:
            self.rejected[code] += 1

    def record_delivery(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def record_flow_change(self, flow_id: int, user_id: int, active: bool) -> None:
        with self.lock:
            self.flow_changes.append(FlowChange(flow_id, user_id, active, self.clock.now()))

    # --- the app and its installation ----------------------------------------------------

    def register_app(self, app: AppRegistration, *, installed: bool = False) -> None:
        """The admin adds the app to the portal: a new installation, finished or not."""
        with self.lock:
            self.app = app
            self.start_install()
            if installed:
                self.install_state = INSTALLED

    def start_install(self) -> None:
        with self.lock:
            self.install_state = PENDING
            self.renew_application_token()

    def renew_application_token(self) -> None:
        """Constant per installation; new on reinstall and on update."""
        self.application_token = secrets.token_hex(16)

    def require_registration(self) -> AppRegistration:
        if self.app is None:
            raise RuntimeError("no app is registered with the sandbox (call register_app first)")
        return self.app

    def require_app(self) -> AppRegistration:
        """The app, when it is on the portal (being installed or installed)."""
        app = self.require_registration()
        if self.install_state == ABSENT:
            raise RuntimeError("the app is not installed on this portal")
        return app

    def issue_tokens(self, user_id: int) -> dict[str, Any]:
        """A fresh token pair for ``user_id``, shaped like the token endpoint's answer (§1.3)."""
        with self.lock:
            app = self.require_app()
            access, refresh, expires = self.tokens.issue(user_id, app.scope)
            return {
                "access_token": access,
                "client_endpoint": self.client_endpoint,
                "domain": self.auth_host,
                "expires": expires,
                "expires_in": self.settings.access_ttl,
                "member_id": self.member_id,
                "refresh_token": refresh,
                "scope": app.scope,
                "server_endpoint": self.server_endpoint,
                "status": app.status,
                "user_id": user_id,
            }

    # --- REST request gates ----------------------------------------------------------

    @contextmanager
    def serving(self) -> Iterator[None]:
        """One REST HTTP request being answered: counts the most answered at once (``most_in_flight``)."""
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    def admit_request(self) -> bool:
        """The portal's leaky bucket (fact sheet §6.1), one count per REST HTTP request."""
        with self.lock:
            self.rest_requests += 1
            return self.bucket.admit()

    def inject_rest_errors(
        self, code: str, count: int, methods: set[str] | None = None, *, per_call: bool = False
    ) -> None:
        with self.lock:
            self._faults.append(Fault(RestError(code), count, methods, per_call))

    def take_fault(self, methods: set[str], *, per_call: bool = False) -> RestError | None:
        """The injected error for a request touching ``methods`` (a batch lists its sub-calls),
        or with ``per_call`` for one call of a method (batch sub-calls one by one)."""
        with self.lock:
            for fault in self._faults:
                matches = fault.methods is None or fault.methods & methods
                if fault.count > 0 and fault.per_call == per_call and matches:
                    fault.count -= 1
                    return fault.error
            return None

    # --- content ------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        return self.users[user_id]

    def is_admin(self, user_id: int) -> bool:
        user = self.users.get(user_id)
        return bool(user and user.admin)

    def add_flow(self, name: str, *, owner_id: int, creator_id: int | None = None, **fields: Any) -> int:
        with self.lock:
            flow_id = self.next_id("flow")
            fields.setdefault("group_id", self.next_id("group"))
            creator = owner_id if creator_id is None else creator_id
            fields.setdefault("responsible_list", [["user", str(owner_id)]])
            fields.setdefault("activity", self.clock.now())
            self.flows[flow_id] = Flow(flow_id, name, creator, owner_id, **fields)
            return flow_id

    def add_task(
        self, title: str, *, created_by: int, responsible_id: int | None = None, **fields: Any
    ) -> int:
        with self.lock:
            task_id = self.next_id("task")
            responsible = created_by if responsible_id is None else responsible_id
            self.tasks[task_id] = Task(task_id, title, created_by, responsible, **fields)
            return task_id

    # --- the company structure and workgroups ---------------------------------------------

    def add_department(self, name: str, *, parent: int | None = None, head: int = 0) -> int:
        with self.lock:
            department_id = self.next_id("department")
            self.departments[department_id] = Department(department_id, name, parent, head=head)
            return department_id

    def department_tree(self, department_id: int) -> set[int]:
        """The department and every department under it (a ``DR`` access code)."""
        with self.lock:
            found, frontier = set(), {department_id}
            while frontier:
                found |= frontier
                frontier = {d.id for d in self.departments.values() if d.parent in frontier} - found
            return found

    def add_group(self, name: str, *, owner_id: int, members: Iterable[int] = (), visible: bool = True) -> int:
        with self.lock:
            group_id = self.next_id("group")
            roles = {owner_id: OWNER_ROLE} | {user: MEMBER_ROLE for user in members if user != owner_id}
            self.groups[group_id] = Group(group_id, name, owner_id, roles, visible)
            return group_id

    def groups_of(self, user_id: int) -> set[int]:
        """The groups the user belongs to (a request to join does not count)."""
        with self.lock:
            return {g.id for g in self.groups.values() if g.members.get(user_id, REQUEST_ROLE) != REQUEST_ROLE}

    def sees_group(self, user_id: int, group_id: int) -> bool:
        """``CSocNetGroup::GetList`` with ``CHECK_PERMISSIONS``: visible groups, or one's own; admins all."""
        with self.lock:
            group = self.groups.get(group_id)
            return group is not None and (self.is_admin(user_id) or group.visible or group_id in self.groups_of(user_id))

    def sees_user(self, viewer_id: int, user: User) -> bool:
        """``user.get`` for a viewer (the extranet rule of ``rest/lib/api/user.php``, ``userGet``):
        an employee sees the employees and the extranet users of their groups; an extranet user
        sees themselves and the people of their groups."""
        with self.lock:
            viewer = self.users.get(viewer_id)
            if user.id == viewer_id:
                return True
            if viewer is None:
                return False
            mates = {m for g in self.groups_of(viewer_id) for m in self.groups[g].members}
            return user.id in mates or (not viewer.extranet and not user.extranet)
