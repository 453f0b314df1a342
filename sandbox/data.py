"""Seed data: four users with different rights, flows that exercise the app's edges, tasks in them."""

from __future__ import annotations

from sandbox.models import User
from sandbox.state import World

ADMIN, OWNER, MEMBER, OUTSIDER = 1, 2, 3, 4

# Different time zones (daylight saving north and south of the equator, none), and one user without a zone.
USERS = (
    User(ADMIN, "Anna", "Admin", "anna@sandbox.test", admin=True, time_zone="Europe/Berlin"),
    User(OWNER, "Oleg", "Owner", "oleg@sandbox.test", time_zone="America/New_York"),
    User(MEMBER, "Maria", "Member", "maria@sandbox.test"),
    User(OUTSIDER, "Otto", "Outsider", "otto@sandbox.test", department=2, time_zone="Asia/Tokyo"),
)

HTML_FLOW_NAME = '<b>Urgent</b> & "VIP" <script>alert(1)</script>'


def _user(user_id: int) -> list[str]:
    return ["user", str(user_id)]


def owner_flow(world: World, name: str, **fields: object) -> int:
    """A flow run by OWNER whose team (and task creators) include MEMBER."""
    team = [_user(MEMBER)]
    fields.setdefault("team", team)
    fields.setdefault("task_creators", [_user(OWNER), *team])
    return world.add_flow(name, owner_id=OWNER, **fields)


def seed(world: World) -> None:
    """Flows 1-6 and a few tasks; flow 2 has no task, so only an id scan finds it."""
    with world.lock:
        world.users.update({u.id: User(**vars(u)) for u in USERS})
        company = world.add_department("Sandbox Inc.")  # 1: everyone but OUTSIDER
        world.add_department("Field office", parent=company)  # 2: OUTSIDER's
        support = owner_flow(world, "Support requests", description="Customer tickets")
        owner_flow(world, "Design reviews", distribution_type="queue")
        urgent = owner_flow(world, HTML_FLOW_NAME)
        sales = owner_flow(world, "Поток продаж", description="Сделки и счета")
        archive = owner_flow(world, "Archived onboarding", active=False)
        budget = world.add_flow(
            "Budget approvals",
            owner_id=ADMIN,
            team=[_user(ADMIN), _user(OWNER)],
            task_creators=[_user(ADMIN), _user(OWNER)],
        )
        for title, creator, responsible, flow in (
            ("Reply to ticket #1042", MEMBER, MEMBER, support),
            ("Escalate outage report", OWNER, MEMBER, support),
            ("Call the VIP client", OWNER, MEMBER, urgent),
            ("Счёт для ООО Ромашка", MEMBER, OWNER, sales),
            ("Onboarding checklist", OWNER, OWNER, archive),
            ("Q3 budget", ADMIN, OWNER, budget),
            ("Buy printer paper", MEMBER, MEMBER, None),
            ("Plan the offsite", OUTSIDER, OUTSIDER, None),
        ):
            world.add_task(title, created_by=creator, responsible_id=responsible, flow_id=flow)


def seed_many_flows(world: World, count: int, *, with_tasks: bool = False) -> list[int]:
    """``count`` more flows like the seeded ones (portals with hundreds or thousands of flows)."""
    with world.lock:
        ids = [owner_flow(world, f"Flow #{len(world.flows) + 1}") for _ in range(count)]
        if with_tasks:
            for flow_id in ids:
                world.add_task(
                    f"Task in flow {flow_id}", created_by=OWNER, responsible_id=MEMBER, flow_id=flow_id
                )
        return ids
