"""The field registry agrees with its families, and the compiler's field tables name real fields."""

from __future__ import annotations

from collections import Counter

from vigil.detect.rules.codegen import CHEAP_FIELDS, remember_last
from vigil.detect.rules.compat import sample_event
from vigil.detect.rules.dispatch import KEY_FIELDS
from vigil.detect.rules.fields import FieldRegistry, Kind, supported_fields
from vigil.detect.rules.fields.unsupported import UNSUPPORTED_FIELDS
from vigil.models import Event, EventType

REGISTRY = FieldRegistry("node-1")


def test_each_field_is_defined_by_one_family_only() -> None:
    names = Counter(d.name for d in supported_fields("node-1"))
    assert [name for name, count in names.items() if count > 1] == []
    unfillable = Counter(d.name for d in UNSUPPORTED_FIELDS)
    assert [name for name, count in unfillable.items() if count > 1] == []
    assert set(names) & set(unfillable) == set()


def test_registry_holds_every_family_and_every_unfillable_falco_field() -> None:
    supported = {d.name for d in REGISTRY.all() if d.supported}
    assert supported == {d.name for d in supported_fields("node-1")}
    unsupported = {d.name for d in REGISTRY.all() if not d.supported}
    assert unsupported == {d.name for d in UNSUPPORTED_FIELDS}
    assert [d.name for d in REGISTRY.all()] == sorted(supported | unsupported)


def test_every_supported_field_reads_every_event_type() -> None:
    for definition in REGISTRY.all():
        if definition.make is None:
            continue
        getter = definition.make("path" if definition.name == "evt.arg" else None)
        for etype in EventType:  # loss reports reach the rules detector too
            getter(sample_event(etype))  # must not raise


def test_hostname_is_injected() -> None:
    found = REGISTRY.lookup("evt.hostname")
    assert found is not None and found[0].make is not None
    assert found[0].make(None)(sample_event(EventType.EXEC)) == "node-1"


def test_compiler_tables_name_registered_string_fields() -> None:
    for name in KEY_FIELDS:
        found = REGISTRY.lookup(name)
        assert found is not None and found[0].supported and found[0].kind is Kind.STR, name
    for name in CHEAP_FIELDS:
        found = REGISTRY.lookup(name)
        assert found is not None and found[0].supported and not found[0].multi, name


def test_remember_last_computes_once_per_event() -> None:
    calls: list[Event] = []

    def compute(event: Event) -> int:
        calls.append(event)
        return len(calls)

    remembered = remember_last(compute)
    first, second = sample_event(EventType.EXEC), sample_event(EventType.EXEC)
    assert remembered(first) == 1
    assert remembered(first) == 1
    assert remembered(second) == 2
    assert remembered(first) == 3
    assert calls == [first, second, first]
