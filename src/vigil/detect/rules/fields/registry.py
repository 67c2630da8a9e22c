"""The registry of every field a rule may name: field name → definition (kind, getter factory).

Each family (``evt``, ``proc``, ``container``/``k8s``, ``fd``/``dns``) owns its table in its own
module; this one only puts them together and resolves the ``evt.arg.NAME`` spelling."""

from __future__ import annotations

import os

from vigil.detect.rules.fields.base import FieldDef
from vigil.detect.rules.fields.container import CONTAINER_FIELDS
from vigil.detect.rules.fields.evt import evt_fields
from vigil.detect.rules.fields.fd import FD_FIELDS
from vigil.detect.rules.fields.proc import PROC_FIELDS
from vigil.detect.rules.fields.unsupported import UNSUPPORTED_FIELDS


def supported_fields(hostname: str) -> list[FieldDef]:
    """Every field vigil fills, family by family."""
    return [*evt_fields(hostname), *PROC_FIELDS, *CONTAINER_FIELDS, *FD_FIELDS]


class FieldRegistry:
    """Every field name a rule may use; ``hostname`` is injectable for tests."""

    def __init__(self, hostname: str | None = None) -> None:
        node = hostname if hostname is not None else os.uname().nodename
        self._fields = {d.name: d for d in supported_fields(node)}
        for unfillable in UNSUPPORTED_FIELDS:
            self._fields.setdefault(unfillable.name, unfillable)

    def lookup(self, name: str) -> tuple[FieldDef, str | None] | None:
        """The field ``name`` names, with the argument carried in the name (``evt.arg.path``)."""
        found = self._fields.get(name)
        if found is not None:
            return found, None
        if name.startswith("evt.arg."):
            return self._fields["evt.arg"], name.removeprefix("evt.arg.")
        return None

    def all(self) -> list[FieldDef]:
        return sorted(self._fields.values(), key=lambda d: d.name)
