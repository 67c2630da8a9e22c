"""Incidents: alerts grouped per workload in time, a severity roll-up, a timeline and states."""

from vigil.incidents.book import DEFAULT_WINDOW, ExceptionList, IncidentBook, ProfileAmender
from vigil.incidents.model import (
    Behaviour,
    Incident,
    IncidentError,
    IncidentNotFound,
    IncidentState,
    InvalidTransition,
    Remedy,
)

__all__ = [
    "DEFAULT_WINDOW",
    "Behaviour",
    "ExceptionList",
    "Incident",
    "IncidentBook",
    "IncidentError",
    "IncidentNotFound",
    "IncidentState",
    "InvalidTransition",
    "ProfileAmender",
    "Remedy",
]
