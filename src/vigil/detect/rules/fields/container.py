"""``container.*``, ``k8s.*``, ``vigil.workload``: where the event happened."""

from __future__ import annotations

from typing import Any

from vigil.detect.rules.fields.base import FieldDef, Getter, Kind, plain
from vigil.models import Event


def _container(attr: str) -> Getter:
    def get(event: Event) -> Any:
        c = event.container
        if c is None:
            return None
        if c.is_host:
            return "host" if attr == "id" else None
        value = getattr(c, attr)
        return value or None

    return get


def _image_part(tag: bool) -> Getter:
    def get(event: Event) -> Any:
        c = event.container
        if c is None or not c.image:
            return None
        image = c.image.partition("@")[0]
        slash = image.rfind("/")
        colon = image.rfind(":")
        if colon > slash:
            return image[colon + 1 :] if tag else image[:colon]
        return None if tag else image

    return get


def _workload(attr: str) -> Getter:
    def get(event: Event) -> Any:
        w = event.workload
        if w is None or w.kind == "Host":
            return None
        value = getattr(w, attr)
        return value or None

    return get


def _f(name: str, getter: Getter, doc: str = "") -> FieldDef:
    return FieldDef(name, Kind.STR, plain(getter), doc)


CONTAINER_FIELDS = (
    _f("container.id", _container("id"), "'host' outside containers"),
    _f("container.name", _container("name")),
    _f("container.image", _container("image")),
    _f("container.image.repository", _image_part(tag=False)),
    _f("container.image.tag", _image_part(tag=True)),
    _f("container.type", _container("runtime")),
    _f("k8s.ns.name", _workload("namespace")),
    _f("k8s.workload.kind", _workload("kind"), "vigil: Deployment, StatefulSet, …"),
    _f("k8s.workload.name", _workload("name"), "vigil"),
    _f("k8s.container.name", _workload("container"), "vigil"),
    _f(
        "vigil.workload",
        lambda e: e.workload.key if e.workload else None,
        "vigil: workload key ns/Kind/name/container",
    ),
)
