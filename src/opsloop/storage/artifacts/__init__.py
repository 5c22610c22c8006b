"""Artifact stores: a local folder (embedded default) or S3-compatible object storage."""

from opsloop.storage.artifacts.base import ArtifactStore, FileInfo, safe_path
from opsloop.storage.artifacts.local import LocalArtifactStore


def open_artifact_store(root: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """The store for ``root``: ``s3://bucket/prefix`` or a local folder path."""
    if root.startswith("s3://"):
        from opsloop.storage.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore(root, endpoint_url=s3_endpoint_url)
    return LocalArtifactStore(root.removeprefix("file://"))


__all__ = ["ArtifactStore", "FileInfo", "LocalArtifactStore", "open_artifact_store", "safe_path"]
