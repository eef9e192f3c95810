"""Content-addressed file store for uploaded bytes (XLSForms, form media, submission attachments).

Files live in ``{data_dir}/blobs/ab/cd/<sha256>``. A file is written to a temporary name in the
same directory, fsynced, renamed into place and its directory fsynced, *before* the database row
that refers to it is committed; so a committed row never points at a missing or partial file. A
crash between the rename and the commit leaves an unreferenced file, which is harmless.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, db, utcnow


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
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
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
