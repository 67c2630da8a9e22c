"""The parts a profile book is made of: one knowledge check shared by detection, the kernel
filter's verdicts and rules; one cap; bounded tracking; no import back from deviations."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

from tests.fixtures.fakes import T0, WEB, WEB_1, WEB_2, FakeClock, connect_event, exec_event
from vigil.api import profile_views
from vigil.detect.dns_names import LOOKUP_WINDOW, RecentLookups
from vigil.detect.first_seen import ContainerStarts
from vigil.detect.generalize import FOLD_ADDRESSES
from vigil.detect.items import ItemKind, items_of
from vigil.detect.policy import ProfilePolicies, ProfilePolicy
from vigil.detect.profile import Profile
from vigil.detect.profiles import ProfileBook
from vigil.detect.rules import LockedProfiles
from vigil.models import DnsInfo, Event, EventType


def attributed(event: Event) -> Event:
    return replace(event, container=WEB_1, workload=WEB)


def test_a_folded_destination_is_known_alike_to_detection_kernel_verdicts_and_rules() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(attributed(exec_event("/bin/sh")))
    for host in range(1, FOLD_ADDRESSES + 1):
        book.observe(attributed(connect_event(f"10.0.0.{host}", 443)))
    book.lock_all()
    (profile,) = book.all()
    assert profile.destinations == {"tcp/10.0.0.0/24:443"}
    rules = LockedProfiles(book)
    inside, outside = connect_event("10.0.0.77", 443), connect_event("10.0.1.77", 443)
    for event, known in ((inside, True), (outside, False)):
        (kind, item) = items_of(event)[0]
        assert profile.knows(kind, item) is known
        assert book.allows(attributed(event)) is known
        assert rules.knows(WEB.key, "destination", item) is known
    assert rules.knows(WEB.key, "executable", "/bin/sh")
    assert not rules.knows(WEB.key, "executable", "/bin/bash")
    assert book.observe(attributed(inside)) == []
    assert len(book.observe(attributed(outside))) == 1


def test_at_cap_is_one_rule_for_the_stored_json_the_api_and_the_counters() -> None:
    policies = ProfilePolicies(ProfilePolicy(auto_lock=False, max_items=2))
    book = ProfileBook(policies=policies)
    book.observe(attributed(connect_event("10.0.0.1", 80)))
    (profile,) = book.all()
    assert not profile.at_cap() and not profile_views.summary(book)["at_cap"]
    book.observe(attributed(connect_event("10.0.0.2", 80)))
    assert profile.is_full() and profile.at_cap() and profile.to_json()["at_cap"]
    assert profile_views.describe(book, profile)["at_cap"] is True
    assert profile_views.summary(book)["at_cap"] == 1
    assert profile.items_dropped == 0
    book.observe(attributed(connect_event("10.0.0.3", 80)))
    assert profile.items_dropped == 1 and profile.size == 2
    # A body stored before caps were recorded (max_items 0) has no known cap.
    old = Profile(workload=WEB, destinations={"tcp/10.0.0.1:80"})
    assert not old.is_full() and not old.at_cap() and old.at_cap(1)


def test_container_starts_are_bounded_and_remember_creation_until_the_first_event() -> None:
    starts = ContainerStarts(T0, max_tracked=2)
    starts.note_created("a", T0 - timedelta(seconds=1))
    starts.note_created("b", T0 + timedelta(seconds=1))
    starts.note_created("c", T0 + timedelta(seconds=1))  # "a" is forgotten
    not_exec = attributed(connect_event("10.0.0.1", 80))
    assert starts.first_event("a", not_exec) is False  # no creation time, not an exec
    assert starts.first_event("b", not_exec) is True
    assert starts.first_event("b", not_exec) is None  # seen already
    assert starts.first_event("d", attributed(exec_event("/bin/sh"))) is True


def test_a_connect_is_tied_to_the_name_its_process_looked_up_within_the_window() -> None:
    clock = FakeClock(T0)
    lookups = RecentLookups(clock, max_tracked=1)
    query = replace(
        attributed(connect_event("10.0.0.1", 53)),
        type=EventType.DNS,
        network=None,
        dns=DnsInfo("api.example.com", "A"),
    )
    query = replace(query, process=replace(query.process, pid=7))
    connect = replace(attributed(connect_event("10.0.0.9", 443)), process=query.process)
    assert lookups.looked_up(query, items_of(query)) is None
    clock.now = T0 + LOOKUP_WINDOW
    assert lookups.looked_up(connect, items_of(connect)) == "api.example.com"
    clock.now = T0 + LOOKUP_WINDOW + timedelta(seconds=1)
    assert lookups.looked_up(connect, items_of(connect)) is None
    other = replace(query, container=WEB_2)
    lookups.looked_up(other, items_of(other))  # the one slot goes to WEB_2's process
    clock.now = T0
    assert lookups.looked_up(connect, items_of(connect)) is None
    assert ItemKind.DNS in {kind for kind, _ in items_of(query)}


def test_deviations_do_not_import_the_profile_book() -> None:
    code = (
        "import sys, vigil.detect.deviations, vigil.detect.profile;"
        "assert 'vigil.detect.profiles' not in sys.modules, 'cycle'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
