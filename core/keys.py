"""Redis key names: every key of a portal starts with ``fs:{<member_id>}:``.

The braces are a Redis Cluster hash tag: one portal's keys live in one slot, so
multi-key scripts and transactions work on a Cluster, and uninstall finds all of a
portal by its prefix. This module is the one place that spells them.
"""

from __future__ import annotations

import re

_MEMBER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class BadMemberId(ValueError):
    """A ``member_id`` that cannot be part of a key (wrong characters or length)."""


def check_member_id(member_id: str) -> str:
    if not isinstance(member_id, str) or not _MEMBER_ID.fullmatch(member_id):
        raise BadMemberId("member_id must be 1-64 letters, digits, '.', '_' or '-'")
    return member_id


def portal_prefix(member_id: str) -> str:
    return f"fs:{{{check_member_id(member_id)}}}:"


def portal_key(member_id: str, *parts: object) -> str:
    """``fs:{M}:part1:part2``."""
    return portal_prefix(member_id) + ":".join(str(part) for part in parts)


def app_key(*parts: object) -> str:
    """``fs:part1:part2``: a key of the whole app, no portal's (no hash tag; used alone, never
    beside a portal's keys in one command, so it may sit in any Cluster slot)."""
    return "fs:" + ":".join(str(part) for part in parts)
