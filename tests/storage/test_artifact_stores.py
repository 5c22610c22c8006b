"""The artifact store contract, run on a local folder and on S3 (moto's server on loopback)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from opsloop.errors import InvalidInputError, LimitExceededError, NotFoundError, StorageError
from opsloop.storage.artifacts import ArtifactStore, LocalArtifactStore, safe_path
from opsloop.storage.artifacts.s3 import S3ArtifactStore


@pytest.fixture(params=["local", "s3"])
def artifacts(request: pytest.FixtureRequest, tmp_path) -> ArtifactStore:  # noqa: ANN001
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ArtifactStore(f"s3://{bucket}/root", endpoint_url=endpoint)


async def _chunks(*parts: bytes):  # noqa: ANN202
    for part in parts:
        yield part


def _read(store: ArtifactStore, path: str) -> bytes:
    return b"".join(store.open_read(path))


def _run(coro):  # noqa: ANN001, ANN202
    """``asyncio.run`` on a thread of its own: a loop left running on this thread by an earlier test (the
    browser tests' Playwright) would refuse it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_write_list_read_delete(artifacts: ArtifactStore) -> None:
    size = _run(artifacts.write("1/run/artifacts/a.txt", _chunks(b"hello ", b"world")))
    assert size == 11
    artifacts.write_bytes("1/run/artifacts/sub/b.bin", b"\x00\x01")
    assert _read(artifacts, "1/run/artifacts/a.txt") == b"hello world"
    listing = artifacts.list("1/run/artifacts")
    assert [(f.path, f.is_dir, f.file_size) for f in listing] == [
        ("1/run/artifacts/a.txt", False, 11), ("1/run/artifacts/sub", True, None)]
    assert [f.path for f in artifacts.walk("1")] == ["1/run/artifacts/a.txt", "1/run/artifacts/sub/b.bin"]
    assert artifacts.size("1/run/artifacts/sub/b.bin") == 2
    artifacts.delete("1/run/artifacts/sub")
    assert [f.path for f in artifacts.list("1/run/artifacts")] == ["1/run/artifacts/a.txt"]
    with pytest.raises(NotFoundError):
        artifacts.open_read("1/run/artifacts/sub/b.bin")
    assert artifacts.list("does/not/exist") == []


def test_oversized_upload_leaves_nothing(artifacts: ArtifactStore) -> None:
    with pytest.raises(LimitExceededError):
        _run(artifacts.write("big.bin", _chunks(b"x" * 10, b"y" * 10), max_bytes=15))
    assert artifacts.size("big.bin") is None


def test_overwrite_replaces_whole_file(artifacts: ArtifactStore) -> None:
    artifacts.write_bytes("f.txt", b"first version, long")
    artifacts.write_bytes("f.txt", b"second")
    assert _read(artifacts, "f.txt") == b"second"


@pytest.mark.parametrize("bad", ["../escape", "a/../../b", "/etc/passwd", "a\\b", "x\x00y", "C:/win", "s3://b/k"])
def test_traversal_and_absolute_paths_are_rejected(artifacts: ArtifactStore, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        artifacts.write_bytes(bad, b"x")
    with pytest.raises(InvalidInputError):
        safe_path(bad)


def test_safe_path_normalises() -> None:
    assert safe_path("a//b/./c/") == "a/b/c"
    assert safe_path("") == ""


def test_s3_missing_artifact_is_not_found_and_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="my-bucket-1")
    store = S3ArtifactStore("s3://my-bucket-1/root", endpoint_url=s3_endpoint)
    with pytest.raises(NotFoundError):  # a bucket named "…bucket…" once read as a missing bucket (a 503)
        store.open_read("0/run/artifacts/absent.txt")
    assert store.size("0/run/artifacts/absent.txt") is None
    gone = S3ArtifactStore("s3://no-such-bucket-here/root", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="no-such-bucket-here"):  # the server's set-up, not a missing artifact
        gone.write_bytes("a.txt", b"x")
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        gone.open_read("a.txt")


def test_deleting_a_path_that_holds_nothing_is_not_an_error(artifacts: ArtifactStore) -> None:
    """As MLflow's artifact repositories (local and S3): its ``mlflow-artifacts`` DELETE answers 200 there."""
    artifacts.write_bytes("1/run/artifacts/kept.txt", b"kept")
    artifacts.delete("1/run/artifacts/never-written.txt")
    artifacts.delete("1/run/artifacts/no/such/folder")
    artifacts.delete("9/no-such-run")
    artifacts.delete("1/run/artifacts/kept.txt/under-a-file")  # was a 500 (NotADirectoryError) on the local store
    assert _read(artifacts, "1/run/artifacts/kept.txt") == b"kept"
    artifacts.delete("1/run/artifacts/kept.txt")
    artifacts.delete("1/run/artifacts/kept.txt")  # twice: a client's retry of a delete that was done
    assert artifacts.size("1/run/artifacts/kept.txt") is None


def _backdate(path, seconds: float) -> None:  # noqa: ANN001
    import os
    import time

    old = time.time() - seconds
    os.utime(path, (old, old))


def test_opening_a_local_store_removes_stale_upload_files_only(tmp_path) -> None:  # noqa: ANN001
    """What a killed server's uploads left is removed, a day old; a younger one may be another worker's upload
    in progress, and a user's own file named like one is an artifact."""
    root = tmp_path / "artifacts"
    folder = root / "1" / "run" / "artifacts" / "sub"
    folder.mkdir(parents=True)
    dead, alive, user_file = folder / ".upload-k9x2_ab7", folder / ".upload-q1w2e3r4", folder / ".upload-notes.txt"
    for f in (dead, alive, user_file):
        f.write_bytes(b"partial")
    _backdate(dead, 2 * 86400)
    _backdate(user_file, 2 * 86400)
    _backdate(alive, 3600)

    store = LocalArtifactStore(root)
    assert store.sweeper is not None
    store.sweeper.join(60)
    assert not dead.exists()
    assert alive.exists() and user_file.exists()
    assert [f.path for f in store.list("1/run/artifacts/sub")] == ["1/run/artifacts/sub/.upload-notes.txt"]


def test_s3_store_aborts_its_own_stale_multipart_uploads(s3_endpoint: str, s3_bucket: str) -> None:
    """moto dates every multipart upload 2010-11-10, so here all are a day old."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    store = S3ArtifactStore(f"s3://{s3_bucket}/root", endpoint_url=s3_endpoint)
    assert store.sweeper is not None
    store.sweeper.join(60)  # the sweep when the store opens (nothing to abort yet)
    mine = s3.create_multipart_upload(Bucket=s3_bucket, Key="root/1/run/artifacts/big.bin")["UploadId"]
    others = s3.create_multipart_upload(Bucket=s3_bucket, Key="rootless/other.bin")["UploadId"]

    def pending() -> set[str]:
        return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])}

    assert store.abort_stale_uploads(older_than_s=100 * 365 * 86400) == 0  # younger than that: kept
    assert pending() == {mine, others}
    assert store.abort_stale_uploads() == 1
    assert pending() == {others}  # under another prefix of the bucket: not this store's


def test_local_file_where_a_folder_is_or_under_a_file_is_refused_naming_the_path(tmp_path) -> None:  # noqa: ANN001
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.write_bytes("1/run/artifacts/sub/b.txt", b"b")
    store.write_bytes("1/run/artifacts/a.txt", b"a")
    for bad in ("1/run/artifacts/sub", "1/run/artifacts/a.txt/child.txt"):  # were a 500 with the server's paths
        with pytest.raises(InvalidInputError) as err:
            store.write_bytes(bad, b"x")
        assert err.value.field == "path" and str(tmp_path) not in err.value.message
        with pytest.raises(InvalidInputError):
            _run(store.write(bad, _chunks(b"x")))
    assert _read(store, "1/run/artifacts/sub/b.txt") == b"b" and _read(store, "1/run/artifacts/a.txt") == b"a"
    assert [f.path for f in store.walk("1")] == ["1/run/artifacts/a.txt", "1/run/artifacts/sub/b.txt"]


def test_local_name_longer_than_the_file_system_takes_is_refused_naming_the_path(tmp_path) -> None:  # noqa: ANN001
    store = LocalArtifactStore(tmp_path / "artifacts")
    long_name = "1/run/artifacts/" + "x" * 300 + ".txt"
    for action in (lambda: store.write_bytes(long_name, b"x"), lambda: store.open_read(long_name),
                   lambda: store.delete(long_name), lambda: store.list(long_name), lambda: store.size(long_name)):
        with pytest.raises(InvalidInputError) as err:  # was an OSError (a 500 naming the server's folders)
            action()
        assert err.value.field == "path" and str(tmp_path) not in err.value.message
    store.write_bytes("1/run/artifacts/" + "é" * 126 + ".t", b"x")  # 254 bytes: within the limit


def test_s3_key_longer_than_s3_takes_is_refused_naming_the_path(s3_endpoint: str, s3_bucket: str) -> None:
    """S3 and MinIO refuse keys over 1,024 bytes (moto does not, so only the refusal before the request shows)."""
    store = S3ArtifactStore(f"s3://{s3_bucket}/root", endpoint_url=s3_endpoint)
    too_long = "1/run/artifacts/" + "x" * 1010  # with "root/": 1,031 bytes
    with pytest.raises(InvalidInputError) as err:
        store.write_bytes(too_long, b"x")
    assert err.value.field == "path"
    assert store.size(too_long[:-7]) is None
    store.write_bytes(too_long[:-7], b"x")  # 1,024 bytes: within the limit
    assert _read(store, too_long[:-7]) == b"x"


_FULL_DISK = """
import asyncio, resource, sys
from opsloop.errors import StorageError
from opsloop.storage.artifacts import LocalArtifactStore

store = LocalArtifactStore(sys.argv[1])
store.write_bytes("1/run/artifacts/kept.txt", b"kept")
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))  # as a full disk

async def chunks():
    for _ in range(4):
        yield b"x" * 2048

for name, write in (("write_bytes", lambda: store.write_bytes("1/run/artifacts/kept.txt", b"y" * 10000)),
                    ("write", lambda: asyncio.run(store.write("1/run/artifacts/kept.txt", chunks())))):
    try:
        write()
        print(name, "stored")
    except StorageError as exc:
        print(name, "StorageError", str(sys.argv[1]) in exc.message)
print(b"".join(store.open_read("1/run/artifacts/kept.txt")).decode())
"""


def test_local_file_system_refusing_a_write_is_a_storage_error(tmp_path) -> None:  # noqa: ANN001
    """A full disk (here a file size limit, EFBIG) was an unhandled OSError (a 500); it is the store's failure
    (a 503 naming the store), the stored file is kept and no temporary file is left."""
    import subprocess
    import sys

    root = tmp_path / "artifacts"
    out = subprocess.run([sys.executable, "-c", _FULL_DISK, str(root)], capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:3] == ["write_bytes StorageError True", "write StorageError True", "kept"], out
    assert [p.name for p in (root / "1" / "run" / "artifacts").iterdir()] == ["kept.txt"]
