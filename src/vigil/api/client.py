"""The CLI's side of the API: small, typed calls with errors that say what to do."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from vigil.api.paths import API_PREFIX, DEFAULT_API
from vigil.errors import ApiError, truncate

__all__ = ["DEFAULT_API", "AgentClient"]


class AgentClient:
    def __init__(
        self,
        base_url: str = DEFAULT_API,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ApiError(
                f"no vigil agent answers at {self.base_url}",
                hint="start one with `sudo vigil run`, or point --api at it",
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(f"talking to {self.base_url} failed: {truncate(exc, 120)}") from None
        if response.status_code == 401:
            raise ApiError(
                "the agent refused the request: missing or wrong API token",
                hint="pass --token or set VIGIL_API_TOKEN (see <data-dir>/api-token)",
            )
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(f"the agent answered {response.status_code}: {truncate(detail, 200)}")
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/health")
        return result

    def profiles(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/profiles")
        return result

    def lock(self, workload: str | None) -> list[str]:
        """Lock one workload's profile (or all, with ``None``); the keys it locked."""
        return self._select("lock", workload)["locked"]

    def unlock(self, workload: str | None) -> list[str]:
        return self._select("unlock", workload)["unlocked"]

    def relearn(self, workload: str | None) -> list[str]:
        """Start new, empty versions; returns ``key@version`` of each."""
        return self._select("relearn", workload)["relearning"]

    def _select(self, action: str, workload: str | None) -> dict[str, list[str]]:
        body = {"all": True} if workload is None else {"workload": workload}
        result: dict[str, list[str]] = self._request("POST", f"/profiles/{action}", json=body)
        return result

    def export_profile(self, reference: str) -> dict[str, Any]:
        """A profile's JSON; ``reference`` is a workload selector, optionally ``@VERSION``."""
        result: dict[str, Any] = self._request(
            "GET", "/profiles/export", params={"workload": reference}
        )
        return result

    def import_profile(self, text: str, source: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", "/profiles/import", json={"yaml": text, "source": source}
        )
        return result

    def profile_versions(self, workload: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", "/profiles/versions", params={"workload": workload}
        )
        return result

    def diff_profiles(self, a: str, b: str | None = None) -> dict[str, Any]:
        params = {"a": a} if b is None else {"a": a, "b": b}
        result: dict[str, Any] = self._request("GET", "/profiles/diff", params=params)
        return result

    def profile_metrics(self) -> dict[str, int]:
        result: dict[str, int] = self._request("GET", "/profiles/metrics")
        return result

    def alerts(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Newest first; filters: severity (list), kind, rule, workload, container, incident,
        since, until, cursor."""
        params = {"limit": limit} | {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = self._request("GET", "/alerts", params=params)
        return result

    def incidents(
        self, *, states: list[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if states:
            params["state"] = states
        result: list[dict[str, Any]] = self._request("GET", "/incidents", params=params)
        return result

    def incident(self, incident_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/incidents/{quote(incident_id, safe='')}")
        return result

    def acknowledge(self, incident_id: str, *, actor: str, note: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST",
            f"/incidents/{quote(incident_id, safe='')}/ack",
            json={"actor": actor, "note": note},
        )
        return result

    def resolve(
        self,
        incident_id: str,
        *,
        actor: str,
        note: str = "",
        false_positive: bool = False,
        remedy: str = "none",
    ) -> dict[str, Any]:
        body = {"actor": actor, "note": note, "false_positive": false_positive, "remedy": remedy}
        result: dict[str, Any] = self._request(
            "POST", f"/incidents/{quote(incident_id, safe='')}/resolve", json=body
        )
        return result

    def containers(self) -> dict[str, Any]:
        """``{"containers": [...], "kubernetes": {...}}`` as the agent sees them."""
        result: dict[str, Any] = self._request("GET", "/containers")
        return result

    # -- actions held for approval ---------------------------------------------------------------
    def actions(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        result: list[dict[str, Any]] = self._request("GET", "/actions", params=params)
        return result

    def decide(self, action_id: str, verdict: str, *, actor: str, reason: str) -> dict[str, Any]:
        """``verdict`` is ``approve`` or ``deny``."""
        result: dict[str, Any] = self._request(
            "POST", f"/actions/{action_id}/{verdict}", json={"actor": actor, "reason": reason}
        )
        return result
