"""Content-addressed store for uploaded bytes (XLSForms, form media, submission attachments).

Two implementations of one interface (:class:`BlobStorage`), chosen by ``FIELDAPP_BLOB_URL``
(:func:`store_from_config`):

- :class:`BlobStore`, the local one (the default): files live in
  ``{data_dir}/blobs/ab/cd/<sha256>``. A file is written to a temporary name in the same
  directory, fsynced, renamed into place and its directory fsynced, *before* the database row
  that refers to it is committed.
- :class:`S3BlobStore`, any S3-compatible object store (``s3://bucket/prefix``): an object is
  put with its SHA-256 and MD5 (the server checks the bytes it received against them and refuses
  a mismatch), then a HEAD confirms its size, *before* the row commits. A PutObject is atomic:
  an interrupted upload leaves nothing behind.

Either way a committed row never points at a missing or partial file; a crash between the write
and the commit leaves an unreferenced blob, which is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, db, utcnow
from fieldapp.errors import DomainError

log = logging.getLogger(__name__)

#: the prefix of a file being written (see :meth:`BlobStore.write`)
TMP_PREFIX = ".tmp-"
#: the file whose modification time records the last sweep, shared by every process
_SWEEP_MARK = ".last-sweep"


class Blob(Base):
    """One stored file, named by the SHA-256 of its bytes."""

    __tablename__ = "blobs"

    #: hex SHA-256 of the content; also the file name
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: hex MD5 of the content (OpenRosa hashes are MD5)
    md5: Mapped[str] = mapped_column(String(32))
    #: size in bytes
    size: Mapped[int]
    #: when the content was first stored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobStoreUnavailable(DomainError):
    """The blob store cannot be reached or refuses us (missing bucket, wrong credentials, a
    network failure); a write is not acknowledged, so phones retry."""

    code = "blobs.unavailable"
    http_status = 503


def _checked(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


def blob_name(sha256: str) -> str:
    """A blob's relative name in any store: ``ab/cd/<sha256>``."""
    _checked(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


@runtime_checkable
class BlobStorage(Protocol):
    """What every blob store offers. Blobs are named by the SHA-256 of their bytes."""

    def write(self, data: bytes) -> str:
        """Store ``data`` durably (verified, before returning) and return its SHA-256; a no-op
        when already stored."""
        ...

    def read(self, sha256: str) -> bytes:
        """The bytes of a stored blob (:class:`FileNotFoundError` when there is none)."""
        ...

    def open(self, sha256: str) -> IO[bytes]:
        """A binary file object that streams the blob (close it; :class:`FileNotFoundError`
        when there is none)."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def size(self, sha256: str) -> int | None:
        """The stored blob's size in bytes, or ``None`` when there is none."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the blob; idempotent (nothing happens when there is none)."""
        ...

    def check(self) -> None:
        """Raise :class:`BlobStoreUnavailable` with a clear message unless the store works."""
        ...

    def describe(self) -> str:
        """Where the blobs are, for messages (never credentials)."""
        ...


class BlobStore:
    """The local store: reads and writes files under a root directory.

    :param root: the directory holding the files.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this hash lives."""
        return self.root / blob_name(sha256)

    def write(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256; a no-op when already stored."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha)
        if path.exists() and path.stat().st_size == len(data):
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return sha

    def read(self, sha256: str) -> bytes:
        """The bytes of a stored file."""
        return self.path_for(sha256).read_bytes()

    def open(self, sha256: str) -> IO[bytes]:
        """The stored file, open for reading."""
        return self.path_for(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        """Remove the file (and make the removal durable); nothing happens when there is none."""
        path = self.path_for(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def check(self) -> None:
        """The directory, when it exists, is one this process may write (writes make it)."""
        if self.root.exists() and not (self.root.is_dir() and os.access(self.root, os.W_OK)):
            raise BlobStoreUnavailable(
                "The blob directory %(root)s is not writable.", params={"root": self.root}
            )

    def describe(self) -> str:
        return str(self.root)

    def sweep_temporary(self, max_age: float) -> int:
        """Remove temporary files of interrupted writes not modified for ``max_age`` seconds.

        :return: how many were removed.
        """
        cutoff = time.time() - max_age
        removed = 0
        for leaf in self._leaf_dirs():
            try:
                entries = list(os.scandir(leaf))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith(TMP_PREFIX):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    pass  # renamed into place or removed by another process meanwhile
        return removed

    def _leaf_dirs(self) -> list[str]:
        """The ``ab/cd`` directories files are written into."""
        leaves: list[str] = []
        try:
            tops = [e.path for e in os.scandir(self.root) if len(e.name) == 2 and e.is_dir()]
        except FileNotFoundError:
            return leaves
        for top in tops:
            try:
                leaves.extend(e.path for e in os.scandir(top) if len(e.name) == 2 and e.is_dir())
            except FileNotFoundError:
                continue
        return leaves


class TemporarySweeper:
    """A daemon thread that sweeps a store's temporary files at start and every ``interval``.

    Every worker process of a server runs one; a periodic pass is skipped when another process
    swept less than ``interval`` ago (the time is kept as a file's modification time in the
    store), so the store is walked about once per interval whatever the number of workers.

    :param store: the store to sweep.
    :param interval: seconds between passes.
    :param max_age: seconds after which a temporary file is taken to be abandoned.
    """

    def __init__(self, store: BlobStore, *, interval: float, max_age: float) -> None:
        self.store = store
        self.interval = interval
        self.max_age = max_age
        self.passes = 0
        self._done = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blob-sweeper", daemon=True)

    def start(self) -> TemporarySweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait_for_passes(self, count: int, timeout: float) -> bool:
        """Block until ``count`` passes have finished (or ``timeout``); whether they have."""
        with self._done:
            return self._done.wait_for(lambda: self.passes >= count, timeout)

    def _run(self) -> None:
        first = True
        while True:
            try:
                if first or self._due():
                    self._sweep()
            except Exception as exc:  # keep sweeping later; never kill the worker
                log.warning("sweeping temporary blob files failed with %s", type(exc).__name__)
            with self._done:
                self.passes += 1
                self._done.notify_all()
            first = False
            if self._stop.wait(self.interval):
                return

    def _due(self) -> bool:
        try:
            last = (self.store.root / _SWEEP_MARK).stat().st_mtime
        except FileNotFoundError:
            return True
        return time.time() - last >= self.interval

    def _sweep(self) -> None:
        removed = self.store.sweep_temporary(self.max_age)
        if self.store.root.is_dir():
            (self.store.root / _SWEEP_MARK).touch()
        if removed:
            log.info("removed %d temporary files of interrupted writes", removed)


class _StreamingBody(io.RawIOBase):
    """An S3 response body as a raw binary stream (buffered by :meth:`S3BlobStore.open`)."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3BlobStore:
    """Blobs as objects ``<prefix>/ab/cd/<sha256>`` of one bucket of an S3-compatible store.

    Credentials and region come from boto3's standard sources (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, instance roles...); nothing here logs or
    shows them.

    :param bucket: the bucket, which must exist.
    :param prefix: the key prefix (no leading or trailing ``/``; may be empty).
    :param endpoint_url: the server for non-AWS stores (MinIO, Ceph, Garage...).
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        import boto3  # noqa: PLC0415 (only S3 deployments pay for importing it)
        from botocore.config import Config  # noqa: PLC0415

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            # the checksums sent are ours (SHA-256 and MD5 of the whole body), not a trailer
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    def key_for(self, sha256: str) -> str:
        """The object key of a blob."""
        name = blob_name(sha256)
        return f"{self.prefix}/{name}" if self.prefix else name

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _unavailable(self, exc: Exception, doing: str) -> BlobStoreUnavailable:
        # the error's code only (its message may quote a key, the bucket's policy...)
        code = _error_code(exc) or type(exc).__name__
        return BlobStoreUnavailable(
            "The blob store %(store)s failed while %(doing)s (%(code)s); try again later.",
            params={"store": self.describe(), "doing": doing, "code": code},
        )

    def write(self, data: bytes) -> str:
        """Put the object with its SHA-256 and MD5 for the server to check, then confirm its
        size with a HEAD; only then is the SHA-256 returned (and the row may commit)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        digest = hashlib.sha256(data)
        sha = digest.hexdigest()
        if self.size(sha) == len(data):
            return sha
        key = self.key_for(sha)
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentLength=len(data),
                ContentMD5=base64.b64encode(md5).decode("ascii"),
                ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                ContentType="application/octet-stream",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "storing a file") from exc
        stored = self.size(sha)
        if stored != len(data):
            raise BlobStoreUnavailable(
                "The blob store %(store)s did not keep a file it accepted "
                "(%(stored)s of %(size)s bytes); try again later.",
                params={"store": self.describe(), "stored": stored, "size": len(data)},
            )
        return sha

    def _get(self, sha256: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        key = self.key_for(sha256)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(sha256) from exc
            raise self._unavailable(exc, "reading a file") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, "reading a file") from exc

    def read(self, sha256: str) -> bytes:
        body = self._get(sha256)
        try:
            return bytes(body.read())
        finally:
            body.close()

    def open(self, sha256: str) -> IO[bytes]:
        """The object as a buffered stream: memory stays at the buffer whatever its size."""
        return io.BufferedReader(_StreamingBody(self._get(sha256)), buffer_size=1 << 20)

    def size(self, sha256: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._unavailable(exc, "looking up a file") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, "looking up a file") from exc
        return int(head["ContentLength"])

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def delete(self, sha256: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            # S3 answers 204 whether or not the object existed
            self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "removing a file") from exc

    def check(self) -> None:
        """The bucket exists and these credentials may use it (a HEAD of the bucket)."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError as exc:
            raise BlobStoreUnavailable(
                "No credentials for the blob store %(store)s: set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY (or another boto3 credential source).",
                params={"store": self.describe()},
            ) from exc
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise BlobStoreUnavailable(
                    "The bucket %(bucket)s does not exist on the blob store %(store)s "
                    "(FIELDAPP_BLOB_URL); create it first.",
                    params={"bucket": self.bucket, "store": self.describe()},
                ) from exc
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise BlobStoreUnavailable(
                    "The blob store %(store)s refused the credentials (%(code)s): check "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
                    params={"store": self.describe(), "code": code},
                ) from exc
            raise self._unavailable(exc, "checking the bucket") from exc
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(
                "The blob store %(store)s cannot be reached (%(error)s): check "
                "FIELDAPP_S3_ENDPOINT_URL and the network.",
                params={"store": self.describe(), "error": type(exc).__name__},
            ) from exc


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def store_from_config(config: Mapping[str, Any]) -> BlobStorage:
    """The store ``BLOB_URL`` names (``FIELDAPP_BLOB_URL``): unset, empty or ``file:`` — the
    data dir's ``blobs``; ``file:///path`` or ``/path`` — that directory; ``s3://bucket/prefix``
    — that bucket (``S3_ENDPOINT_URL`` for a non-AWS server). Nothing is contacted here."""
    url = str(config.get("BLOB_URL") or "").strip()
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise BlobStoreUnavailable(
                "FIELDAPP_BLOB_URL names no valid bucket (s3://bucket/prefix).",
                code="blobs.bad_url",
            )
        endpoint = str(config.get("S3_ENDPOINT_URL") or "").strip() or None
        return S3BlobStore(bucket, prefix, endpoint_url=endpoint)
    if url.startswith("file:"):
        path = unquote(urlsplit(url).path)
    elif url.startswith("/"):
        path = url
    elif not url:
        path = ""
    else:
        raise BlobStoreUnavailable(
            "FIELDAPP_BLOB_URL must be s3://bucket/prefix, file:///path or an absolute path.",
            code="blobs.bad_url",
        )
    return BlobStore(Path(path) if path else Path(config["DATA_DIR"]) / "blobs")


def store_blob(store: BlobStorage, data: bytes) -> str:
    """Write ``data`` to the store and make sure its :class:`Blob` row exists.

    One ``INSERT ... ON CONFLICT DO NOTHING``: concurrent requests storing the same bytes do not
    clash, and nothing needs reading back.

    :return: the SHA-256 of ``data``.
    """
    sha = store.write(data)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    values = {"sha256": sha, "md5": md5, "size": len(data), "created_at": utcnow()}
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"])
    )
    return sha
