"""Pytest plugin: whether the test being torn down failed, so a fixture can print what it saw.

Fixtures that hold a side of a failure pytest cannot show (a server's log, the browser's
traffic) print it after a failed test only, next to the failure in CI's output.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    """True in a fixture's teardown when its test (its setup or call) failed."""
    return request.node.stash.get(_FAILED, False)
