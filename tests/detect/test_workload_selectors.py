"""One workload selector matcher: profile policies, `vigil profiles` selection and playbooks give
the same answers as before it was shared, for every selector form."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.fixtures.fakes import WEB_1, exec_event
from vigil.detect.policy import PolicyOverride
from vigil.detect.profiles import ProfileBook
from vigil.models import Alert, Severity, Workload
from vigil.respond.responder import _workload_matches

WEB = Workload("shop", "Deployment", "web", "app")
#: a workload *named* like the first one's namespace, in another namespace
SHOP = Workload("other", "StatefulSet", "shop", "db")

# selector → whether it names WEB and SHOP exactly (policies, `vigil profiles`), and whether it
# matches WEB and SHOP as a playbook's glob
TABLE: dict[str, tuple[bool, bool, bool, bool]] = {
    "shop/Deployment/web/app": (True, False, True, False),
    "shop/web": (True, False, True, False),
    "web": (True, False, True, False),
    "web/app": (True, False, False, False),
    "shop/web/app": (True, False, False, False),
    "shop": (False, True, False, True),
    "shop/db": (False, True, False, False),
    "other/shop": (False, True, False, True),
    "other/shop/db": (False, True, False, False),
    "Deployment": (False, False, False, False),
    "app": (False, False, False, False),
    "shop/*": (False, False, True, False),
    "*": (False, False, True, True),
    "we?": (False, False, True, False),
    "*/app": (False, False, True, False),
    "shop/Deployment/*": (False, False, True, False),
    "web/*": (False, False, False, False),
    "[ws]*": (False, False, True, True),
    "": (False, False, False, False),
}


def alert_of(workload: Workload) -> Alert:
    event = replace(exec_event("/bin/nc"), container=WEB_1, workload=workload)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert("a-1", moment, "deviation", "profile.new_executable", Severity.HIGH, "m", event)


def book_of(*workloads: Workload) -> ProfileBook:
    book = ProfileBook(learning_period=None)
    for workload in workloads:
        event = replace(exec_event("/bin/sh"), container=WEB_1, workload=workload)
        book.observe(event)
    return book


@pytest.mark.parametrize("selector", sorted(TABLE))
def test_every_selector_form_matches_as_before(selector: str) -> None:
    names_web, names_shop, glob_web, glob_shop = TABLE[selector]
    assert PolicyOverride({}, workload=selector).matches(WEB) is names_web
    assert PolicyOverride({}, workload=selector).matches(SHOP) is names_shop
    selected = [p.workload for p in book_of(WEB, SHOP).select(selector)]
    assert selected == [w for w, named in ((SHOP, names_shop), (WEB, names_web)) if named]
    assert _workload_matches(frozenset({selector}), alert_of(WEB)) is glob_web
    assert _workload_matches(frozenset({selector}), alert_of(SHOP)) is glob_shop


def test_a_selector_naming_two_workloads_selects_both_sorted_by_key() -> None:
    twin = replace(WEB, namespace="dev")
    book = book_of(WEB, twin)
    assert [p.workload for p in book.select("web")] == [twin, WEB]
    assert [p.workload for p in book.select(WEB.key)] == [WEB]


def test_a_policy_override_needs_both_its_namespace_and_its_workload() -> None:
    assert PolicyOverride({}, namespace="shop", workload="web").matches(WEB)
    assert not PolicyOverride({}, namespace="dev", workload="web").matches(WEB)
    assert PolicyOverride({}, namespace="shop").matches(WEB)
    assert not _workload_matches(frozenset({"*"}), replace(alert_of(WEB), event=exec_event("/x")))
