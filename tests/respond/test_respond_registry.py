"""The registry of actions is the only list of names: every entry has exactly one implementation
on ActionKit, and every implementation names an entry."""

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from tests.fixtures.fakes import WEB, WEB_1, exec_event
from vigil.errors import RuntimeActionError
from vigil.models import Alert, Severity
from vigil.respond.actions import (
    NO_KUBERNETES,
    ActionKit,
    ContainerTarget,
    implementations,
    implements,
)
from vigil.respond.registry import ACTION_NAMES, ACTIONS, DESTRUCTIVE, Scope


@dataclass(frozen=True)
class Pod:
    """A Kubernetes container's record (the CRI annotations name its pod)."""

    id: str = "web-1"
    runtime: str = "runc"
    state_root: str = "/run/runc"
    cgroup_paths: Mapping[str, str] = field(default_factory=lambda: {"freezer": "/nowhere"})
    annotations: Mapping[str, str] = field(
        default_factory=lambda: {
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.name": "web-1",
        }
    )


def an_alert() -> Alert:
    event = replace(exec_event("/bin/nc"), container=WEB_1, workload=WEB)
    return Alert("a-1", event.time, "deviation", "profile.new_executable", Severity.HIGH, "", event)


def test_every_action_has_exactly_one_implementation_and_every_implementation_an_action() -> None:
    found = implementations(ActionKit)
    assert sorted(found) == sorted(ACTION_NAMES)
    assert {name: len(attributes) for name, attributes in found.items()} == dict.fromkeys(
        ACTION_NAMES, 1
    )
    assert list(ActionKit().registry()) == list(ACTION_NAMES)


def test_a_second_implementation_of_one_action_is_found() -> None:
    class Twice(ActionKit):
        @implements("kill")
        async def kill_again(self, alert: Alert, target: ContainerTarget) -> str:
            return "again"

    assert implementations(Twice)["kill"] == ["kill", "kill_again"]


def test_an_implementation_of_an_unlisted_action_is_refused_at_import() -> None:
    with pytest.raises(KeyError):
        implements("explode")


def test_actions_that_need_kubernetes_say_so_without_a_client() -> None:
    kit = ActionKit()
    cluster = [name for name, spec in ACTIONS.items() if spec.needs_kubernetes]
    assert cluster and all(ACTIONS[name].scope is Scope.CLUSTER for name in cluster)
    actions = kit.registry()

    async def run(name: str) -> str:
        return await actions[name](an_alert(), Pod())

    for name in cluster:
        with pytest.raises(RuntimeActionError, match=NO_KUBERNETES):
            asyncio.run(run(name))


def test_without_a_kit_only_the_cgroup_freezer_acts() -> None:
    assert sorted(ActionKit.standalone()) == ["freeze", "thaw"]
    # they run unbound, with no kit: static methods
    attributes = [implementations(ActionKit)[name][0] for name in ActionKit.standalone()]
    assert all(isinstance(inspect.getattr_static(ActionKit, a), staticmethod) for a in attributes)


def test_destructive_actions_are_the_ones_that_kill_or_remove() -> None:
    killing = {"kill", "kill-tree", "stop-container", "kill-container"}
    assert killing | {"delete-pod", "scale-to-zero"} == DESTRUCTIVE
