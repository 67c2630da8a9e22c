"""Lifecycle: caps and folding, partial profiles, image versions, unlock/relearn/import, restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from tests.fixtures.fakes import T0, WEB, WEB_1, WEB_2, FakeClock, connect_event, exec_event
from vigil.api import profile_views
from vigil.detect.generalize import argument_pattern, dns_pattern, path_pattern
from vigil.detect.policy import PolicyOverride, ProfilePolicies, ProfilePolicy
from vigil.detect.profiles import ProfileBook, ProfileState
from vigil.models import Event, EventType, FileInfo, Workload
from vigil.record.store import Store


def on(event: Event, container=WEB_1, workload: Workload = WEB) -> Event:  # type: ignore[no-untyped-def]
    return replace(event, container=container, workload=workload)


def write_event(path: str) -> Event:
    return replace(
        exec_event("/usr/sbin/nginx"), type=EventType.OPEN, file=FileInfo(path, "create")
    )


def test_generalisation_of_arguments_paths_and_names() -> None:
    assert argument_pattern("sleep 0.25") == "<num>"
    assert argument_pattern("git checkout 3f2a9c1e4b5d6e7f --quiet") == "checkout <hash> --quiet"
    assert (
        argument_pattern("cp /tmp/tmp.Xa81kQ2bzZ /data/x-17.bin") == "/tmp/<tmp> /data/x-<num>.bin"
    )
    assert argument_pattern("nc 10.1.2.3 80") == "<ip> <num>"
    assert argument_pattern("python3 -m http.server") == "-m http.server"
    assert (
        argument_pattern("kubectl get pod 0b5c5d7e-1f9a-4c1e-9d3f-2a6b7c8d9e0f") == "get pod <hash>"
    )
    assert path_pattern("/var/cache/app/7f3e2a1b9c8d7e6f.json") == "/var/cache/app/<hash>.json"
    assert path_pattern("/tmp/tmpk2j3_x9q/out.log") == "/tmp/<tmp>/out.log"
    assert dns_pattern("Pod-12.Example.COM.") == "pod-<num>.example.com"


def test_many_addresses_of_one_24_fold_into_its_cidr_and_many_paths_into_a_glob() -> None:
    book = ProfileBook(learning_period=None)
    for host in range(1, 4):
        book.observe(on(connect_event(f"10.0.0.{host}", 443)))
    (profile,) = book.all()
    assert len(profile.destinations) == 3  # three are kept as they are
    book.observe(on(connect_event("10.0.0.4", 443)))
    assert profile.destinations == {"tcp/10.0.0.0/24:443"}
    book.observe(on(connect_event("10.0.0.77", 443)))  # covered: nothing new
    book.observe(on(connect_event("10.0.0.77", 80)))  # another port is another item
    assert profile.destinations == {"tcp/10.0.0.0/24:443", "tcp/10.0.0.77:80"}
    for name in ("a.conf", "b.conf", "c.yaml", "d.txt", "e", "f", "g", "h"):
        book.observe(on(write_event(f"/etc/app/{name}")))
    assert profile.file_writes == {"/etc/app/*"}
    book.observe(on(write_event("/etc/app/sub/x")))
    assert profile.file_writes == {"/etc/app/*", "/etc/app/sub/x"}


def test_hard_cap_turns_new_items_away_and_says_so() -> None:
    book = ProfileBook(policies=ProfilePolicies(ProfilePolicy(auto_lock=False, max_items=5)))
    for number in range(10):
        book.observe(on(exec_event(f"/usr/bin/tool{number}")))  # exe, args, user: 3 items
    (profile,) = book.all()
    assert profile.size == 5
    assert profile.items_dropped > 0
    described = profile_views.describe(book, profile)
    assert described["at_cap"] is True and described["max_items"] == 5
    assert profile_views.summary(book)["at_cap"] == 1
    assert profile_views.summary(book)["items_dropped"] == profile.items_dropped


def test_auto_lock_bounds_and_per_namespace_and_workload_policies() -> None:
    clock = FakeClock(T0)
    batch = Workload("batch", "Job", "nightly", "main")
    policies = ProfilePolicies(
        ProfilePolicy(min_learning=30, max_learning=600, stability_events=3, stability_seconds=5),
        (
            PolicyOverride({"auto_lock": False}, namespace="batch"),
            PolicyOverride({"stability_events": 1000}, workload="shop/web"),
        ),
    )
    book = ProfileBook(policies=policies, clock=clock)
    for second in range(0, 100, 10):
        clock.now = T0 + timedelta(seconds=second)
        book.observe(on(exec_event("/bin/sh")))
        book.observe(on(exec_event("/bin/sh"), workload=batch))
    web, nightly = book.get(WEB.key), book.get(batch.key)
    assert web is not None and nightly is not None
    # shop/web needs 1000 quiet events: not converged after 9
    assert web.state is ProfileState.LEARNING
    assert 0 < profile_views.progress(book, web)["progress"] < 1
    clock.now = T0 + timedelta(seconds=600)
    assert [p.key for p in book.tick()] == [WEB.key]  # max_learning bounds it
    assert web.lock_reason == "max_learning"
    assert nightly.state is ProfileState.LEARNING  # batch: lock by hand only
    assert profile_views.progress(book, nightly)["auto_lock"] is False


def test_min_learning_holds_a_converged_profile_back() -> None:
    clock = FakeClock(T0)
    policy = ProfilePolicy(
        min_learning=60, max_learning=None, stability_events=2, stability_seconds=1
    )
    book = ProfileBook(policies=ProfilePolicies(policy), clock=clock)
    for second in range(0, 50, 5):
        clock.now = T0 + timedelta(seconds=second)
        book.observe(on(exec_event("/bin/sh")))
    assert book.all()[0].state is ProfileState.LEARNING
    clock.now = T0 + timedelta(seconds=61)
    book.observe(on(exec_event("/bin/sh")))
    assert book.all()[0].lock_reason == "converged"


def test_partial_when_the_first_container_predates_the_agent() -> None:
    clock = FakeClock(T0)
    book = ProfileBook(learning_period=None, clock=clock)
    book.note_container("web-1", T0 - timedelta(hours=1))  # identity's record: older than us
    book.observe(on(exec_event("/bin/sh")))
    (profile,) = book.all()
    assert profile.partial is True
    book.note_container("web-2", T0 + timedelta(seconds=5))  # a replica started after us
    book.observe(on(exec_event("/usr/sbin/nginx"), WEB_2))
    assert profile.partial is False
    # without a creation time: a first event that is not an exec means we missed the start
    other = Workload("shop", "Deployment", "api", "api")
    book.observe(on(connect_event("10.0.0.1", 80), replace(WEB_1, id="api-1"), other))
    assert book.get(other.key).partial is True


def test_a_new_image_starts_a_new_version_and_old_replicas_keep_the_old_one() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(on(exec_event("/bin/sh")))
    book.lock_all()
    v2_container = replace(WEB_2, image="nginx:1.28")
    assert book.observe(on(exec_event("/usr/bin/new-in-1.28"), v2_container)) == []
    current = book.get(WEB.key)
    assert current is not None and current.version == 2 and current.image == "nginx:1.28"
    assert current.state is ProfileState.LEARNING
    assert current.executables == {"/usr/bin/new-in-1.28"}
    # an old replica during the rollout is still checked against version 1
    (deviation,) = book.observe(on(exec_event("/bin/nc")))
    assert deviation.profile.version == 1
    assert [p.version for p in book.take_superseded()] == [1]


def test_unlock_relearn_and_install() -> None:
    book = ProfileBook(learning_period=None)
    book.observe(on(exec_event("/bin/sh")))
    book.lock_all()
    assert len(book.observe(on(exec_event("/bin/ls")))) == 1
    assert [p.key for p in book.unlock([WEB.key])] == [WEB.key]
    assert book.observe(on(exec_event("/bin/ls"))) == []  # learning again: learnt
    book.lock_all()
    assert "/bin/ls" in book.get(WEB.key).executables  # type: ignore[union-attr]
    (fresh,) = book.relearn([WEB.key])
    assert fresh.version == 2 and fresh.size == 0 and fresh.state is ProfileState.LEARNING
    assert book.previous(WEB.key).executables == {"/bin/sh", "/bin/ls"}  # type: ignore[union-attr]
    imported = replace(fresh, version=1)
    imported.executables = {"/bin/true"}
    imported.state = ProfileState.LOCKED
    installed = book.install(imported)
    assert installed.version == 3 and installed.lock_reason == "import"


def test_a_restart_keeps_every_profile_its_state_and_its_history(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    book = ProfileBook(learning_period=None, clock=clock)
    book.note_container("web-1", T0 - timedelta(hours=1))
    book.observe(on(exec_event("/bin/sh")))
    book.observe(on(connect_event("10.0.0.7", 5432)))
    book.lock_all()
    book.observe(on(exec_event("/bin/nc")))  # reported once, remembered
    api = Workload("shop", "Deployment", "api", "api")
    book.observe(on(exec_event("/bin/api"), replace(WEB_1, id="api-1", image="api:1"), api))
    book.observe(on(exec_event("/bin/api2"), replace(WEB_1, id="api-2", image="api:2"), api))
    store = Store.open(tmp_path)
    store.save_profile_versions(book.take_superseded())
    store.save_profiles(book.take_dirty())
    store.close()

    reopened = Store.open(tmp_path)
    current = reopened.load_profiles()
    again = ProfileBook(
        learning_period=None, profiles=current, previous=reopened.load_previous_profiles(current)
    )
    before = {p.key: p.to_json() for p in book.all()}
    assert {p.key: p.to_json() for p in again.all()} == before
    web = again.get(WEB.key)
    assert web is not None and web.state is ProfileState.LOCKED and web.partial is True
    assert again.observe(on(exec_event("/bin/nc"))) == []  # still reported once only
    assert [v["version"] for v in reopened.profile_versions(api.key)] == [1, 2]
    assert again.previous(api.key).executables == {"/bin/api"}  # type: ignore[union-attr]
    assert reopened.load_profile_version(api.key, 1).image == "api:1"  # type: ignore[union-attr]
    reopened.close()
