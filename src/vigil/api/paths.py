"""Where the agent's API lives: shared by the server and its clients without loading either."""

from __future__ import annotations

API_PREFIX = "/api/v1"
DEFAULT_API = "http://127.0.0.1:7070"
