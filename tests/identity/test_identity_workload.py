"""Annotations → workload, including owner inference from pod names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.identity.runtime import parse_timestamp
from vigil.identity.workload import infer_owner, workload_of
from vigil.models import Workload


@pytest.mark.parametrize(
    ("pod", "kind", "name"),
    [
        ("web-7d4b9c8f6d-x2x9k", "Deployment", "web"),
        ("shop-api-5b9f7c6d48-bx7kq", "Deployment", "shop-api"),
        ("coredns-5d78c9869d-4wz2m", "Deployment", "coredns"),
        ("report-28731540-fz5k2", "CronJob", "report"),
        ("db-0", "StatefulSet", "db"),
        ("kafka-broker-12", "StatefulSet", "kafka-broker"),
        ("kube-proxy-x7ncz", "DaemonSet", "kube-proxy"),
        ("node-exporter-2kq9w", "DaemonSet", "node-exporter"),
        ("debug", "Pod", "debug"),
        ("my-pod", "Pod", "my-pod"),
        # vowels are never in generated suffixes: these are plain names
        ("web-frontend", "Pod", "web-frontend"),
        ("api-hello-world", "Pod", "api-hello-world"),
    ],
)
def test_owner_inferred_from_pod_name(pod: str, kind: str, name: str) -> None:
    assert infer_owner(pod) == (kind, name)


def test_cri_o_annotations() -> None:
    annotations = {
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.name": "web-7d4b9c8f6d-x2x9k",
        "io.kubernetes.container.name": "nginx",
    }
    assert workload_of(annotations, "abc", "") == Workload(
        "shop", "Deployment", "web", "nginx", inferred=True
    )


def test_containerd_cri_annotations() -> None:
    annotations = {
        "io.kubernetes.cri.sandbox-namespace": "data",
        "io.kubernetes.cri.sandbox-name": "db-2",
        "io.kubernetes.cri.container-name": "postgres",
    }
    assert workload_of(annotations, "abc", "postgres:16") == Workload(
        "data", "StatefulSet", "db", "postgres", inferred=True
    )


def test_plain_container_is_its_own_workload_named_after_its_image() -> None:
    assert workload_of({}, "abc", "nginx:1.25") == Workload("", "Container", "nginx:1.25", "abc")
    assert workload_of({}, "abc", "") == Workload("", "Container", "abc", "abc")
    named = {"io.kubernetes.container.name": "sidecar"}
    assert workload_of(named, "abc", "") == Workload("", "Container", "abc", "sidecar")


def test_go_timestamps_with_nanoseconds() -> None:
    assert parse_timestamp("2026-11-28T04:40:31.24644634Z") == datetime(
        2026, 11, 28, 4, 40, 31, 246446, tzinfo=UTC
    )
    assert parse_timestamp("2021-08-29T14:34:52Z") == datetime(2021, 8, 29, 14, 34, 52, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None
