"""The API's settings: ``api.listen``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from vigil.errors import truncate
from vigil.setting_types import SETTINGS

DEFAULT_LISTEN = "127.0.0.1:7070"


def _valid_listen(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _listen(value: Any) -> str:
    listen = str(value)
    if not _valid_listen(listen):
        raise ValueError(f"must be HOST:PORT, not {truncate(listen, 60)!r}")
    return listen


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class ApiSection(BaseModel):
    model_config = SETTINGS

    listen: Annotated[str, BeforeValidator(_listen)] = DEFAULT_LISTEN
