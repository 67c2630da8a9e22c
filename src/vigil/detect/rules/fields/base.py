"""What a field is: its name, the kind of value it reads, and how a getter is made for it.

A getter returns ``None`` when the field is absent for that event. Multi-valued fields (e.g.
``proc.aname`` without an index: every ancestor) return a tuple; a comparison on them holds
when it holds for any value, as in Falco.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vigil.models import Event

Getter = Callable[[Event], Any]
#: arg (``2`` in ``proc.aname[2]``, ``None`` without one) → getter
GetterFactory = Callable[[str | None], Getter]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(StrEnum):
    STR = "string"
    INT = "number"
    BOOL = "bool"
    NET = "ip address"  # compared with addresses or CIDR networks


class Arg(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    kind: Kind
    #: arg → getter; ``None`` for known Falco fields vigil's events cannot fill
    make: GetterFactory | None
    doc: str = ""
    arg: Arg = Arg.NONE
    multi: bool = False

    @property
    def supported(self) -> bool:
        return self.make is not None


def plain(func: Getter) -> GetterFactory:
    """The factory of a field that takes no argument: always the same getter."""
    return lambda _arg: func


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def present(value: Any) -> Any:
    """``value``, or ``None`` when it is empty (an empty string reads as absent)."""
    return value if value not in ("", None) else None


def ip_address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
