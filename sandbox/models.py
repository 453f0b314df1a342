"""Records of the emulated portal: users, flows, tasks, the registered app, tokens, bindings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Pair = list[str]  # ["user", "3"], ["department", "17:F"], ["meta-user", "all-users"]
MARKET_CODE = "sandbox.flowswitch"  # the vendor code the sandbox gives a market (non-local) app


def iso(moment: datetime) -> str:
    """PHP ``date('c')``: seconds precision with the offset."""
    return moment.isoformat(timespec="seconds")


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class User:
    id: int
    name: str
    last_name: str
    email: str
    admin: bool = False
    active: bool = True
    department: int = 1  # 0: an extranet user (no department; sees only the people of their groups)
    time_zone: str = ""  # an IANA name; empty while the user keeps the automatic zone

    @property
    def extranet(self) -> bool:
        return not self.department

    @property
    def full_name(self) -> str:
        return f"{self.name} {self.last_name}"

    def to_rest(self) -> dict[str, Any]:
        """``user.get`` / ``user.current`` shape: ids as strings."""
        return {
            "ID": str(self.id),
            "ACTIVE": self.active,
            "NAME": self.name,
            "LAST_NAME": self.last_name,
            "SECOND_NAME": "",
            "EMAIL": self.email,
            "LAST_LOGIN": "2026-11-27T09:00:00+00:00",
            "DATE_REGISTER": "2024-01-15T00:00:00+00:00",
            "IS_ONLINE": "N",
            "TIME_ZONE": self.time_zone,
            "PERSONAL_GENDER": "",
            "PERSONAL_BIRTHDAY": "",
            "WORK_POSITION": "",
            "UF_EMPLOYMENT_DATE": "",
            "UF_DEPARTMENT": [self.department] if self.department else [],
        }


@dataclass
class Department:
    """One node of the company structure (``department.get``); ``parent`` is None for the root."""

    id: int
    name: str
    parent: int | None = None
    sort: int = 500
    head: int = 0

    def to_rest(self) -> dict[str, Any]:
        """``CIntranetRestService::getDeptData``: ids as strings, SORT an int, unset fields left out."""
        answer: dict[str, Any] = {"ID": str(self.id), "NAME": self.name, "SORT": self.sort}
        if self.parent is not None:
            answer["PARENT"] = str(self.parent)
        if self.head:
            answer["UF_HEAD"] = str(self.head)
        return answer


#: workgroup roles of members (``SONET_ROLES_*``): owner, moderator, member; "Z" is a request to join
OWNER_ROLE, MODERATOR_ROLE, MEMBER_ROLE, REQUEST_ROLE = "A", "E", "K", "Z"


@dataclass
class Group:
    """A workgroup or project; ``visible`` groups are listed to everyone, the others only to members."""

    id: int
    name: str
    owner_id: int
    members: dict[int, str] = field(default_factory=dict)  # user id -> role, in the order they joined
    visible: bool = True


@dataclass
class Flow:
    id: int
    name: str
    creator_id: int
    owner_id: int
    group_id: int
    description: str = ""
    active: bool = True
    planned_completion_time: int = 7200
    distribution_type: str = "manually"
    responsible_list: list[Pair] = field(default_factory=list)
    task_creators: list[Pair] = field(default_factory=lambda: [["meta-user", "all-users"]])
    team: list[Pair] = field(default_factory=list)
    template_id: int = 0
    efficiency: int = 100
    activity: datetime = field(default_factory=now_utc)
    responsible_can_change_deadline: bool = False
    match_work_time: bool = True
    task_control: bool = False
    notify_at_half_time: bool = False
    notify_on_queue_overflow: int | None = None
    notify_on_tasks_in_progress_overflow: int | None = None
    notify_when_efficiency_decreases: int | None = None

    def to_rest(self) -> dict[str, Any]:
        """The flow object of fact sheet §7.1 (ints, bools, pairs with string ids)."""
        return {
            "id": self.id,
            "creatorId": self.creator_id,
            "ownerId": self.owner_id,
            "groupId": self.group_id,
            "templateId": self.template_id,
            "efficiency": self.efficiency,
            "active": self.active,
            "plannedCompletionTime": self.planned_completion_time,
            "activity": iso(self.activity),
            "name": self.name,
            "description": self.description,
            "distributionType": self.distribution_type,
            "responsibleList": [list(p) for p in self.responsible_list],
            "demo": False,
            "responsibleCanChangeDeadline": self.responsible_can_change_deadline,
            "matchWorkTime": self.match_work_time,
            "taskControl": self.task_control,
            "notifyAtHalfTime": self.notify_at_half_time,
            "notifyOnQueueOverflow": self.notify_on_queue_overflow,
            "notifyOnTasksInProgressOverflow": self.notify_on_tasks_in_progress_overflow,
            "notifyWhenEfficiencyDecreases": self.notify_when_efficiency_decreases,
            "taskCreators": [list(p) for p in self.task_creators],
            "team": [list(p) for p in self.team],
            "trialFeatureEnabled": False,
        }


@dataclass
class Task:
    id: int
    title: str
    created_by: int
    responsible_id: int
    flow_id: int | None = None
    group_id: int = 0
    status: int = 2
    created_date: datetime = field(default_factory=now_utc)

    def to_rest(self) -> dict[str, Any]:
        """``tasks.task.*`` task object: camelCase keys, ids as strings, ``flowId`` null outside flows."""
        return {
            "id": str(self.id),
            "title": self.title,
            "createdBy": str(self.created_by),
            "responsibleId": str(self.responsible_id),
            "groupId": str(self.group_id),
            "status": str(self.status),
            "createdDate": iso(self.created_date),
            "flowId": None if self.flow_id is None else str(self.flow_id),
        }


@dataclass
class AppRegistration:
    client_id: str
    client_secret: str
    app_url: str
    installer_url: str
    redirect_uri: str
    install_event_url: str | None = None
    scope: str = "task,user,placement"
    version: int = 1
    name: str = "Flow Switch"  # APP_NAME: system notifications start with it
    # app.info's CODE: a local app's code is its client id (AppTable::onAfterAdd); a market
    # app has a vendor code of its own ("vendor.app") beside its client id ("app.5xx...").
    code: str = ""

    def __post_init__(self) -> None:
        if not self.code:
            self.code = self.client_id if self.client_id.startswith("local.") else MARKET_CODE

    @property
    def status(self) -> str:
        """``L`` for local apps (``local.*`` codes), ``F`` (free) for market apps."""
        return "L" if self.client_id.startswith("local.") else "F"

    @property
    def scopes(self) -> set[str]:
        return {s.strip() for s in self.scope.split(",") if s.strip()}


@dataclass
class AccessToken:
    user_id: int
    expires: float
    scope: str
    refresh_token: str


@dataclass
class RefreshToken:
    user_id: int
    expires: float
    access_token: str
    used: bool = False


@dataclass
class AuthCode:
    user_id: int
    expires: float
    used: bool = False


@dataclass
class EventBinding:
    id: int
    event: str
    handler: str
    auth_type: int = 0
    offline: bool = False


@dataclass
class Placement:
    placement: str
    handler: str
    title: str = ""
    description: str = ""
    group_name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    lang_all: dict[str, Any] = field(default_factory=dict)
    user_id: int = 0

    def to_rest(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "userId": self.user_id,
            "handler": self.handler,
            "options": self.options or [],
            "title": self.title,
            "description": self.description,
            "langAll": self.lang_all or [],
        }


@dataclass
class Delivery:
    """One event POST to an app handler, as sent and as answered."""

    url: str
    event: str
    payload: list[tuple[str, str]]
    status: int | None
    error: str | None = None
    dropped: bool = False  # lost on the way, never sent (Bitrix24 does not retry)

    @property
    def form(self) -> dict[str, str]:
        return dict(self.payload)


@dataclass(frozen=True)
class FlowChange:
    """One ``activate`` that switched a flow: who did it, the state it left, when (sandbox clock)."""

    flow_id: int
    user_id: int
    active: bool
    at: datetime


@dataclass
class Notification:
    """One entry of a user's notification list (``im.notify.system.add`` / ``im.notify.personal.add``)."""

    id: int
    user_id: int
    message: str  # as stored: the app name and ``#BR#`` already turned into a line break
    message_out: str
    kind: str  # "system" or "personal"
    from_user_id: int  # 0 for system notices
    client_id: str | None  # the app that sent it (None without app context)
    tag: str  # the TAG the app sent; the stored key is ``notify_tag``
    notify_tag: str
    sub_tag: str
    attach: Any
    at: datetime
