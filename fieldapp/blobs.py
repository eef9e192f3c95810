"""Content-addressed file store for uploaded bytes (XLSForms, form media, submission attachments).

Files live in ``{data_dir}/blobs/ab/cd/<sha256>``. A file is written to a temporary name in the
same directory, fsynced, renamed into place and its directory fsynced, *before* the database row
that refers to it is committed; so a committed row never points at a missing or partial file. A
crash between the rename and the commit leaves an unreferenced file, which is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, db, utcnow

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


class BlobStore:
    """Reads and writes files under a root directory.

    :param root: the directory holding the files.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this hash lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

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


def store_blob(store: BlobStore, data: bytes) -> str:
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
