from dataclasses import replace
from datetime import timedelta

from tests.fixtures.fakes import T0, WEB, WEB_1, WEB_2, FakeClock, connect_event, exec_event
from vigil.detect.profiles import ItemKind, Profile, ProfileBook, ProfileState
from vigil.models import HOST_CONTAINER, HOST_WORKLOAD, Event


def attributed(event: Event, container=WEB_1) -> Event:  # type: ignore[no-untyped-def]
    return replace(event, container=container, workload=WEB)


def test_replicas_share_one_profile_that_learns_then_locks() -> None:
    book = ProfileBook(learning_period=None)
    assert book.observe(attributed(exec_event("/bin/sh"), WEB_1)) == []
    assert book.observe(attributed(exec_event("/usr/sbin/nginx"), WEB_2)) == []
    assert book.observe(attributed(connect_event("10.0.0.7", 5432), WEB_2)) == []
    (profile,) = book.all()
    assert profile.key == "shop/Deployment/web/nginx"
    assert profile.executables == {"/bin/sh", "/usr/sbin/nginx"}
    assert profile.destinations == {"tcp/10.0.0.7:5432"}
    assert profile.state is ProfileState.LEARNING
    assert book.lock_all() == [profile]
    # mypy keeps the LEARNING it narrowed above: it cannot see lock_all() change the profile
    assert profile.state is ProfileState.LOCKED  # type: ignore[comparison-overlap]


def test_each_new_item_after_lock_is_one_deviation() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(attributed(exec_event("/bin/sh")))
    book.observe(attributed(connect_event("10.0.0.7", 5432)))
    book.lock_all()
    assert book.observe(attributed(exec_event("/bin/sh"))) == []
    (dev,) = book.observe(attributed(exec_event("/usr/bin/curl"), WEB_2))
    assert dev.item_kind is ItemKind.EXECUTABLE
    assert dev.item == "/usr/bin/curl"
    assert dev.rule == "profile.new_executable"
    assert "/bin/sh" in dev.message
    # the same behaviour again, from either replica, is not reported twice
    assert book.observe(attributed(exec_event("/usr/bin/curl"), WEB_1)) == []
    (dest,) = book.observe(attributed(connect_event("203.0.113.9", 4444)))
    assert dest.item == "tcp/203.0.113.9:4444"
    assert dest.severity.value == "medium"
    assert book.observe(attributed(connect_event("203.0.113.9", 4444))) == []
    # a known destination on another protocol is new
    assert len(book.observe(attributed(connect_event("10.0.0.7", 5432, protocol="udp")))) == 1


def test_ipv6_destination_key_is_bracketed() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(attributed(connect_event("2001:db8::1", 443)))
    assert book.all()[0].destinations == {"tcp/[2001:db8::1]:443"}


def test_learning_period_locks_by_time() -> None:
    clock = FakeClock(T0)
    book = ProfileBook(learning_period=60, clock=clock)
    book.observe(attributed(exec_event("/bin/sh")))
    clock.now = T0 + timedelta(seconds=59)
    assert book.tick() == []
    clock.now = T0 + timedelta(seconds=61)
    assert [p.key for p in book.tick()] == [WEB.key]
    assert len(book.observe(attributed(exec_event("/bin/nc")))) == 1


def test_host_events_build_no_profile() -> None:
    book = ProfileBook(learning_period=None)
    host_event = replace(
        exec_event("/usr/bin/ssh"), container=HOST_CONTAINER, workload=HOST_WORKLOAD
    )
    assert book.observe(host_event) == []
    assert len(book) == 0


def test_select_by_aliases() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(attributed(exec_event("/bin/sh")))
    for selector in ("shop/Deployment/web/nginx", "shop/web", "web", "web/nginx"):
        assert [p.key for p in book.select(selector)] == [WEB.key]
    assert book.select("nope") == []


def test_profile_json_round_trip() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(attributed(exec_event("/bin/sh")))
    book.observe(attributed(connect_event("::1", 53, protocol="udp")))
    book.lock_all()
    book.observe(attributed(exec_event("/bin/nc")))
    (profile,) = book.all()
    again = Profile.from_json(profile.to_json())
    assert again.to_json() == profile.to_json()
    assert again.workload == profile.workload
