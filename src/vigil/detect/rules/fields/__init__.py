"""The fields a condition or output may name, and how each is read from a vigil Event.

Names and meanings follow Falco's (``proc.name``, ``proc.aname[2]``, ``fd.sport``, …) so that
Falco rules load unchanged. One module per family (:mod:`.evt`, :mod:`.proc`,
:mod:`.container`, :mod:`.fd`), the Falco fields vigil cannot fill in :mod:`.unsupported`,
and :class:`FieldRegistry` (name → definition) in :mod:`.registry`.
"""

from __future__ import annotations

from vigil.detect.rules.fields.base import (
    Arg,
    FieldDef,
    Getter,
    GetterFactory,
    IpAddress,
    Kind,
)
from vigil.detect.rules.fields.evt import mode_text, open_flags_text
from vigil.detect.rules.fields.registry import FieldRegistry, supported_fields

__all__ = [
    "Arg",
    "FieldDef",
    "FieldRegistry",
    "Getter",
    "GetterFactory",
    "IpAddress",
    "Kind",
    "mode_text",
    "open_flags_text",
    "supported_fields",
]
