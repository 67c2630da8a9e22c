"""A container image made offline from a rootfs directory: a plain tar (``docker import``,
``podman import``) and an OCI image archive (``ctr images import``). Nothing is ever pulled."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def rootfs_tar(rootfs: Path, target: Path) -> Path:
    """``rootfs`` as an uncompressed tar with paths relative to its top (what an import takes)."""
    with tarfile.open(target, "w") as tar:
        for child in sorted(rootfs.iterdir()):
            tar.add(child, arcname=child.name)
    return target


def oci_archive(rootfs: Path, reference: str, target: Path) -> Path:
    """An OCI image layout tar of one layer, tagged ``reference`` (e.g. ``vigil.lab/busybox:1``)."""
    layer = rootfs_tar(rootfs, target.with_suffix(".layer.tar")).read_bytes()
    target.with_suffix(".layer.tar").unlink()
    config = _json_bytes(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
    )
    manifest = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": _descriptor(MEDIA_CONFIG, config),
            "layers": [_descriptor(MEDIA_LAYER, layer)],
        }
    )
    tag = reference.rpartition(":")[2] if ":" in reference.rpartition("/")[2] else "latest"
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                **_descriptor(MEDIA_MANIFEST, manifest),
                # containerd takes the full name from its own annotation, others the tag
                "annotations": {
                    "io.containerd.image.name": reference,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }
    with tarfile.open(target, "w") as tar:
        _add(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        _add(tar, "index.json", _json_bytes(index))
        for blob in (config, manifest, layer):
            _add(tar, f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}", blob)
    return target


def _digest(blob: bytes) -> str:
    return f"sha256:{hashlib.sha256(blob).hexdigest()}"


def _descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(blob), "size": len(blob)}


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
