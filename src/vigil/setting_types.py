"""Value types the stages' settings share, each with the message a user reads when it is wrong.

Messages read after the setting's dotted name (``response.cooldown must be …``); see
:func:`vigil.yamlnodes.validate`. Numbers, flags and strings are checked as YAML typed them:
``dry_run: 1`` is not a flag and ``cooldown: "5"`` is not a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from vigil.errors import truncate

#: every settings model: immutable; unknown keys are reported (with a suggestion) by
#: vigil.yamlnodes.check_keys before validation, so pydantic itself ignores them
SETTINGS = ConfigDict(
    frozen=True, extra="ignore", populate_by_name=True, coerce_numbers_to_str=True
)
#: the same for pydantic dataclasses (whose decorator says ``frozen=True``)
DATACLASS_SETTINGS = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flag(show_value: bool) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            shown = f", not {truncate(value, 40)}" if show_value else ""
            raise ValueError(f"must be true or false{shown}")
        return value

    return check


def non_negative(value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise ValueError(f"must be a non-negative number, not {truncate(value, 40)}")
    return float(value)


def _more_than_zero(message: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        number = non_negative(value)
        if number <= 0:
            raise ValueError(message)
        return number

    return check


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"must be a non-negative integer, not {truncate(value, 40)}")
    return value


def _positive_whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("must be a positive whole number")
    return value


def str_list(value: Any) -> Any:
    """One string or a list of them; other items of a list are left out (as before)."""
    if isinstance(value, list):
        return [str(item) for item in value if not isinstance(item, dict | list)]
    if isinstance(value, tuple | frozenset | set):
        return value  # built in code
    if isinstance(value, dict):
        raise ValueError("must be a list of strings")
    return [str(value)]


def text(value: Any) -> Any:
    """Any scalar as the string written (``namespace: 3`` is the namespace "3")."""
    return str(value) if isinstance(value, int | float | bool | str) else value


#: ``true``/``false``; the message quotes what was given
Flag = Annotated[bool, BeforeValidator(_flag(True))]
#: ``true``/``false``, message without the value
BareFlag = Annotated[bool, BeforeValidator(_flag(False))]
NonNegative = Annotated[float, BeforeValidator(non_negative)]
#: a timeout or a window: more than zero seconds
Seconds = Annotated[float, BeforeValidator(_more_than_zero("must be more than 0 seconds"))]
Window = Annotated[float, BeforeValidator(_more_than_zero("must be a positive number of seconds"))]
Count = Annotated[int, BeforeValidator(_count)]
PositiveWhole = Annotated[int, BeforeValidator(_positive_whole)]
Text = Annotated[str, BeforeValidator(text)]
StrList = Annotated[tuple[str, ...], BeforeValidator(str_list)]
