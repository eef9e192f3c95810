"""Backup and restore: one encrypted archive of the database, the blob files and the secret key.

An archive is a tar stream (``manifest.json`` first, then the database snapshot, the secret key
and the blob files) sealed in authenticated chunks (:class:`Sealer`). The database is
snapshotted *first* and the blobs copied are exactly those its ``blobs`` table names: a blob file
is written and fsynced before its row commits (``fieldapp.blobs``), so every row the snapshot
holds has its file already, and files newer than the snapshot are not needed. A row whose file
is missing is an error, never a silent skip.

Restore decrypts and checks everything into a staging directory beside the target (same file
system), and only then moves it into place (SQLite) or loads it in one transaction (PostgreSQL):
a wrong passphrase, a damaged or truncated archive, or a target that is not empty writes nothing.

Nothing here prints or logs names, answers or keys: only counts, sizes and archive ids.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL

from fieldapp.blobs import BlobStorage, BlobStore, BlobStoreUnavailable, store_from_config
from fieldapp.config import data_dir_from_env, normalise_database_url
from fieldapp.db import make_engine
from fieldapp.errors import DomainError

#: the archive's layout version (the header's and the manifest's)
FORMAT = 1
#: the first bytes of every archive
MAGIC = b"fieldapp-backup\x00"
#: plaintext bytes per sealed chunk
CHUNK_SIZE = 1 << 20
#: where the passphrase comes from (never from the command line, where ``ps`` would show it)
PASSPHRASE_ENV = "FIELDAPP_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name
#: scrypt cost of the passphrase (age's own default is 2**18; restore reads it from the header)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
#: the largest header or manifest read before it is checked (a damaged length must not allocate)
_MAX_HEADER = 1 << 20
_MAX_MANIFEST = 1 << 30

_SQLITE_MEMBER = "database.sqlite3"
_PG_MEMBER = "database.pgdump"
_KEY_MEMBER = "secret_key"
_MANIFEST = "manifest.json"
_BLOB_MEMBER = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]*")


class BackupError(DomainError):
    """A backup or restore that cannot go on; nothing was written to the target."""

    code = "backup.failed"


# -- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """What seals or opens an archive: a passphrase, age recipients (to seal), age identities
    (to open). An archive's data key is wrapped once per passphrase or recipient."""

    passphrase: str | None = None
    recipients: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()


def keys_from_env(
    *, recipients: tuple[str, ...] = (), identity_file: Path | None = None, sealing: bool
) -> Keys:
    """The passphrase from :data:`PASSPHRASE_ENV`, with the given recipients or identities.

    Encryption is not optional: with neither a passphrase nor a recipient (or, to open, an
    identity) this refuses.
    """
    passphrase = os.environ.get(PASSPHRASE_ENV) or None
    identities: tuple[str, ...] = ()
    if identity_file is not None:
        lines = identity_file.read_text().splitlines()
        identities = tuple(s.strip() for s in lines if s.strip().startswith("AGE-SECRET-KEY-"))
        if not identities:
            raise BackupError(
                "%(identity_file)s holds no age identity (AGE-SECRET-KEY-1...).",
                params={"identity_file": identity_file},
            )
    if sealing and passphrase is None and not recipients:
        raise BackupError(
            "Backups are always encrypted: set %(passphrase_env)s to a passphrase "
            "(or give --recipient age1...).",
            params={"passphrase_env": PASSPHRASE_ENV},
        )
    if not sealing and passphrase is None and not identities:
        raise BackupError(
            "Set %(passphrase_env)s to the archive's passphrase (or give --identity FILE).",
            params={"passphrase_env": PASSPHRASE_ENV},
        )
    return Keys(passphrase=passphrase, recipients=recipients, identities=identities)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError) as exc:
        raise _damaged("its header") from exc


@functools.lru_cache(maxsize=8)
def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The passphrase's key for one archive's salt (kept: a restore opens an archive twice)."""
    return hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20),
        dklen=32,
    )  # fmt: skip


def _wrap(key: bytes, keys: Keys) -> list[dict[str, Any]]:
    """One slot per way in: the data key sealed under the passphrase's scrypt key, or to an age
    recipient (age only ever sees the 32-byte key, so the archive streams whatever its size)."""
    slots: list[dict[str, Any]] = []
    if keys.passphrase is not None:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        kek = _scrypt(keys.passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        wrapped = AESGCM(kek).encrypt(nonce, key, b"fieldapp-backup passphrase slot")
        slots.append(
            {
                "type": "passphrase",
                "kdf": "scrypt",
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": _b64(salt),
                "nonce": _b64(nonce),
                "key": _b64(wrapped),
            }
        )
    if keys.recipients:
        import pyrage  # noqa: PLC0415

        try:
            recipients = [pyrage.x25519.Recipient.from_str(r) for r in keys.recipients]
        except Exception as exc:
            raise BackupError("A --recipient is not an age X25519 recipient (age1...).") from exc
        slots.append({"type": "age", "key": _b64(pyrage.encrypt(key, recipients))})
    return slots


def _unwrap(slots: list[Any], keys: Keys) -> bytes:
    """The data key, from the first slot the keys open."""
    for slot in slots:
        if not isinstance(slot, dict):
            raise _damaged("its header")
        if slot.get("type") == "passphrase" and keys.passphrase is not None:
            n, r, p = int(slot["n"]), int(slot["r"]), int(slot["p"])
            if not (2**10 <= n <= 2**22 and 1 <= r <= 32 and 1 <= p <= 16):
                raise _damaged("its header")
            kek = _scrypt(keys.passphrase, _unb64(slot["salt"]), n, r, p)
            try:
                return AESGCM(kek).decrypt(
                    _unb64(slot["nonce"]), _unb64(slot["key"]), b"fieldapp-backup passphrase slot"
                )
            except InvalidTag:
                continue
        if slot.get("type") == "age" and keys.identities:
            import pyrage  # noqa: PLC0415

            try:
                identities = [pyrage.x25519.Identity.from_str(i) for i in keys.identities]
                return bytes(pyrage.decrypt(_unb64(slot["key"]), identities))
            except Exception:  # noqa: S112 - another slot may open
                continue
    raise BackupError(
        "The archive does not open with the passphrase or identity given "
        "(wrong passphrase, or not the key this backup was made for). Nothing was written."
    )


# -- sealed chunks -----------------------------------------------------------------------------


def _damaged(where: str) -> BackupError:
    return BackupError(
        "The archive is damaged (%(where)s fails its check: changed, cut or "
        "reordered). Nothing was written.",
        params={"where": where},
    )


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    """What each chunk is bound to: the header, its position and whether it is the last one —
    so a changed header, a swapped, dropped or duplicated chunk or a cut-off end all fail."""
    return header_digest + struct.pack(">QB", index, 1 if final else 0)


def _nonce(index: int) -> bytes:
    # the data key is random per archive, so a counter never repeats a nonce under one key
    return struct.pack(">IQ", 0, index)


class Sealer:
    """A write-only stream that seals what it is given into authenticated chunks.

    Layout: ``MAGIC``, a 4-byte header length, the JSON header (the key slots), then per chunk a
    4-byte length and its AES-256-GCM ciphertext. At most one chunk of plaintext is held.
    """

    def __init__(self, out: IO[bytes], keys: Keys, chunk_size: int = CHUNK_SIZE) -> None:
        key = AESGCM.generate_key(bit_length=256)
        header = json.dumps(
            {
                "format": FORMAT,
                "cipher": "AES-256-GCM",
                "chunk_size": chunk_size,
                "slots": _wrap(key, keys),
            },
            sort_keys=True,
        ).encode()
        prefix = MAGIC + struct.pack(">I", len(header)) + header
        out.write(prefix)
        self._out = out
        self._aead = AESGCM(key)
        self._digest = hashlib.sha256(prefix).digest()
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        # keep the last (possibly full) chunk back: only close() knows it is the final one
        while len(self._buffer) > self._chunk_size:
            self._seal(bytes(self._buffer[: self._chunk_size]), final=False)
            del self._buffer[: self._chunk_size]
        return len(data)

    def close(self) -> None:
        """Seal what is left as the final chunk (an archive always ends with one)."""
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.closed = True

    def _seal(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._index), plain, _aad(self._digest, self._index, final)
        )
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1


class Opener:
    """A read-only stream of an archive's plaintext; every chunk is authenticated before any of
    its bytes are returned, and the end is only accepted after the final chunk."""

    def __init__(self, raw: IO[bytes], keys: Keys) -> None:
        if raw.read(len(MAGIC)) != MAGIC:
            raise BackupError("This is not a fieldapp backup archive. Nothing was written.")
        (length,) = struct.unpack(">I", _read_exactly(raw, 4, "its header"))
        if length > _MAX_HEADER:
            raise _damaged("its header")
        header_bytes = _read_exactly(raw, length, "its header")
        try:
            header = json.loads(header_bytes)
        except ValueError as exc:
            raise _damaged("its header") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BackupError("This archive was written by another version of fieldapp's format.")
        self._chunk_size = int(header.get("chunk_size", 0))
        if not 0 < self._chunk_size <= 64 * CHUNK_SIZE:
            raise _damaged("its header")
        slots = header.get("slots")
        self._aead = AESGCM(_unwrap(slots if isinstance(slots, list) else [], keys))
        prefix = MAGIC + struct.pack(">I", length) + header_bytes
        self._digest = hashlib.sha256(prefix).digest()
        self._raw = raw
        self._plain = b""
        self._index = 0
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._plain and not self._ended:
            self._next_chunk()
        if size < 0:
            size = len(self._plain)
        out, self._plain = self._plain[:size], self._plain[size:]
        return out

    def drain(self) -> None:
        """Read to the end: only then are truncation and trailing bytes known not to exist."""
        while self.read(self._chunk_size):
            pass

    def _next_chunk(self) -> None:
        head = self._raw.read(4)
        if not head:
            raise BackupError(
                "The archive is truncated (it ends before its last part). Nothing was written."
            )
        (length,) = struct.unpack(">I", _read_exactly(self._raw, 4 - len(head), "", head))
        if length > self._chunk_size + 16:
            raise _damaged(f"part {self._index + 1}")
        sealed = _read_exactly(self._raw, length, "")
        for final in (False, True):
            try:
                plain = self._aead.decrypt(
                    _nonce(self._index), sealed, _aad(self._digest, self._index, final)
                )
            except InvalidTag:
                continue
            self._index += 1
            self._plain = plain
            if final:
                if self._raw.read(1):
                    raise _damaged("the end (bytes after the last part)")
                self._ended = True
            return
        raise _damaged(f"part {self._index + 1}")


def _read_exactly(raw: IO[bytes], size: int, where: str, start: bytes = b"") -> bytes:
    data = start + raw.read(size)
    if len(data) != size + len(start):
        if where:
            raise _damaged(where)
        raise BackupError(
            "The archive is truncated (it ends before its last part). Nothing was written."
        )
    return data


# -- the instance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """Where an instance keeps its data: read from the environment as ``load_config`` does, but
    without its side effects (it would make the data dir and a secret key in a restore target)."""

    data_dir: Path
    database_url: str
    #: ``FIELDAPP_BLOB_URL`` and ``FIELDAPP_S3_ENDPOINT_URL`` (unset: the data dir's blobs)
    blob_url: str | None = None
    s3_endpoint_url: str | None = None

    @classmethod
    def from_env(cls) -> Instance:
        data_dir = data_dir_from_env()
        url = (
            os.environ.get("FIELDAPP_DATABASE_URL") or f"sqlite:///{data_dir / 'fieldapp.sqlite3'}"
        )
        return cls(
            data_dir,
            normalise_database_url(url),
            blob_url=os.environ.get("FIELDAPP_BLOB_URL") or None,
            s3_endpoint_url=os.environ.get("FIELDAPP_S3_ENDPOINT_URL") or None,
        )

    def blob_store(self) -> BlobStorage:
        """The instance's blob store (local or S3), checked to work."""
        store = store_from_config(
            {
                "BLOB_URL": self.blob_url,
                "S3_ENDPOINT_URL": self.s3_endpoint_url,
                "DATA_DIR": str(self.data_dir),
            }
        )
        try:
            store.check()
        except BlobStoreUnavailable as exc:
            raise BackupError(
                "%(message)s Nothing was written.", params={"message": exc.message}
            ) from exc
        return store

    @property
    def kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        database = make_url(self.database_url).database
        if not database or database == ":memory:":
            raise BackupError("The SQLite database URL names no file.")
        return Path(database)


def _schema_of(url: URL) -> str:
    """The schema in use: the first of ``options=-csearch_path=...``, else ``public``."""
    options = url.query.get("options")
    raw = options if isinstance(options, str) else " ".join(options or ())
    match = re.search(r"search_path\s*=\s*([^\s,]+)", raw)
    schema = match.group(1).strip('"') if match else "public"
    if not _SCHEMA.fullmatch(schema):
        raise BackupError("Backups handle lower-case schema names only (letters, digits, _).")
    return schema


def _pg_env(url: URL) -> dict[str, str]:
    """libpq's environment for the URL (the password never goes on a command line)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    host = url.host or url.query.get("host")
    values = {
        "PGHOST": host if isinstance(host, str) else None,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
        "PGSSLMODE": url.query.get("sslmode"),
        "PGAPPNAME": "fieldapp-backup",
    }
    env.update({k: v for k, v in values.items() if isinstance(v, str)})
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            "%(name)s was not found: install the PostgreSQL client tools.", params={"name": name}
        )
    return path


# -- backup ------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """A consistent copy of the database in a file, and what its tables say."""

    path: Path
    member: str
    revision: str
    #: (sha256, size) of every row of the snapshot's ``blobs`` table
    blobs: list[tuple[str, int]]
    schema: str | None = None


def _snapshot_sqlite(instance: Instance, work: Path) -> Snapshot:
    """SQLite's online backup in one step: a read transaction (WAL lets writers go on)."""
    source_path = instance.sqlite_path
    if not source_path.is_file():
        raise BackupError("There is no SQLite database to back up at the configured path.")
    path = work / _SQLITE_MEMBER
    source = sqlite3.connect(source_path, timeout=30)
    try:
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            # one self-contained file: no -wal beside it to forget
            target.execute("PRAGMA journal_mode=DELETE")
            blobs = [(str(s), int(n)) for s, n in target.execute("SELECT sha256, size FROM blobs")]
            revision = target.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            "The SQLite snapshot failed (%(error)s).", params={"error": type(exc).__name__}
        ) from exc
    finally:
        source.close()
    if revision is None:
        raise BackupError("The database has no migration revision: run `fieldapp db upgrade`.")
    return Snapshot(path, _SQLITE_MEMBER, str(revision[0]), blobs)


def _snapshot_postgresql(instance: Instance, work: Path) -> Snapshot:
    """``pg_dump`` of the schema in use, on a snapshot exported by the transaction that reads
    the ``blobs`` table: the dump and the blob list see exactly the same commits."""
    url = make_url(instance.database_url)
    schema = _schema_of(url)
    pg_dump = _tool("pg_dump")
    path = work / _PG_MEMBER
    engine = make_engine(instance.database_url)
    try:
        connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with connection as conn, conn.begin():
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            rows = conn.execute(text("SELECT sha256, size FROM blobs"))
            blobs = [(str(s), int(n)) for s, n in rows]
            errors = work / "pg_dump.err"
            with errors.open("wb") as err:
                done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                    [
                        pg_dump,
                        "--format=custom",
                        f"--snapshot={snapshot_id}",
                        f"--schema={schema}",
                        "--no-owner",
                        "--no-acl",
                        f"--file={path}",
                    ],
                    env=_pg_env(url),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    check=False,
                )
        if done.returncode != 0:
            # pg_dump's messages name objects and connection problems, never row data
            lines = errors.read_text(errors="replace").strip().splitlines()
            raise BackupError(
                "pg_dump failed: %(detail)s",
                params={"detail": lines[-1] if lines else done.returncode},
            )
    finally:
        engine.dispose()
    if revision is None:
        raise BackupError("The database has no migration revision: run `fieldapp db upgrade`.")
    return Snapshot(path, _PG_MEMBER, str(revision), blobs, schema=schema)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def blob_member(sha: str) -> str:
    """A blob's name in the archive (and under the data dir): ``blobs/ab/cd/<sha256>``."""
    return f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"


def read_manifest(path: Path, keys: Keys) -> dict[str, Any]:
    """An archive's manifest (its first member: only the first chunks are read)."""
    with path.open("rb") as raw:
        return _read_manifest(tarfile.open(fileobj=Opener(raw, keys), mode="r|"))  # type: ignore[call-overload]


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    info = tar.next()
    if info is None or info.name != _MANIFEST or not info.isfile() or info.size > _MAX_MANIFEST:
        raise _damaged("its manifest")
    handle = tar.extractfile(info)
    assert handle is not None
    try:
        manifest = json.loads(handle.read())
    except ValueError as exc:
        raise _damaged("its manifest") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged("its manifest")
    return manifest


def _held_blobs(manifest: dict[str, Any]) -> set[str]:
    """Every blob a restore of this archive (with its bases) gets."""
    held = {m["name"].rsplit("/", 1)[1] for m in manifest["members"] if m["name"][:6] == "blobs/"}
    return held | set(manifest.get("earlier_blobs", []))


@dataclass
class BackupSummary:
    """What a backup wrote, for the operator: counts and sizes only."""

    archive_id: str
    blobs: int
    blobs_earlier: int
    blob_bytes: int
    database_bytes: int
    archive_bytes: int
    base: str | None


def make_backup(
    instance: Instance, to: Path, keys: Keys, since: Path | None = None
) -> BackupSummary:
    """Write one sealed archive of ``instance`` to ``to`` (which must not exist yet).

    The archive appears under its name only when complete (written to a temporary name in the
    same directory, fsynced and renamed).
    """
    if to.exists():
        raise BackupError(
            "%(to)s exists already; backups never overwrite a file.", params={"to": to}
        )
    previous = read_manifest(since, keys) if since is not None else None
    if previous is not None and previous.get("database") != instance.kind:
        raise BackupError("--since names a backup of another kind of database.")
    to.parent.mkdir(parents=True, exist_ok=True)
    with _workdir(to.parent, ".fieldapp-backup-") as work:
        snapshot = (
            _snapshot_postgresql(instance, work)
            if instance.kind == "postgresql"
            else _snapshot_sqlite(instance, work)
        )
        earlier = _held_blobs(previous) if previous is not None else set()
        store = instance.blob_store()
        blobs = _blob_files(store, snapshot.blobs, skip=earlier)
        members: list[tuple[dict[str, Any], Opener_]] = [
            (_entry(snapshot.member, snapshot.path), _file_opener(snapshot.path))
        ]
        key_file = instance.data_dir / "secret_key"
        if key_file.is_file():
            members.append((_entry(_KEY_MEMBER, key_file), _file_opener(key_file)))
        members += [
            ({"name": blob_member(s), "sha256": s, "size": n}, functools.partial(store.open, s))
            for s, n in blobs
        ]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "id": uuid.uuid4().hex,
            "base": previous["id"] if previous is not None else None,
            "fieldapp_version": _version(),
            "alembic_revision": snapshot.revision,
            "created_at": datetime.now(UTC).isoformat(),
            "database": instance.kind,
            "schema": snapshot.schema,
            "members": [entry for entry, _ in members],
            "earlier_blobs": sorted(earlier & {s for s, _ in snapshot.blobs}),
        }
        fd, tmp_name = tempfile.mkstemp(dir=to.parent, prefix=f".tmp-{to.name}-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _write_archive(out, keys, manifest, members)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, to)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return BackupSummary(
        archive_id=manifest["id"],
        blobs=len(blobs),
        blobs_earlier=len(manifest["earlier_blobs"]),
        blob_bytes=sum(n for _, n in blobs),
        database_bytes=members[0][0]["size"],
        archive_bytes=to.stat().st_size,
        base=manifest["base"],
    )


def _version() -> str:
    try:
        return version("fieldapp")
    except PackageNotFoundError:
        return "unknown"


def _entry(name: str, path: Path) -> dict[str, Any]:
    return {"name": name, "sha256": _file_digest(path), "size": path.stat().st_size}


#: opens one member's bytes for the archive
Opener_ = Callable[[], IO[bytes]]


def _file_opener(path: Path) -> Opener_:
    def open_file() -> IO[bytes]:
        return path.open("rb")

    return open_file


def _blob_files(
    store: BlobStorage, rows: list[tuple[str, int]], *, skip: set[str]
) -> list[tuple[str, int]]:
    """The snapshot's blob rows (those not in ``skip``), each checked to be in the store with
    its size; missing ones are an error."""
    found: list[tuple[str, int]] = []
    missing: list[str] = []
    for sha, size in sorted(rows):
        if sha in skip:
            continue
        try:
            stored = store.size(sha)
        except BlobStoreUnavailable as exc:
            raise BackupError(
                "%(message)s No backup was written.", params={"message": exc.message}
            ) from exc
        if stored is None:
            missing.append(sha)
            continue
        if stored != size:
            raise BackupError(
                "The blob file %(sha)s has %(stored)s bytes, its row says %(size)s.",
                params={"sha": sha, "stored": stored, "size": size},
            )
        found.append((sha, size))
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BackupError(
            "The database names blob %(missing)s%(more)s but the blob store has no "
            "such file (in %(store)s); no backup was written.",
            params={"missing": missing[0], "more": more, "store": store.describe()},
        )
    return found


class _HashingReader:
    """Reads a file for tarfile while hashing it, so a changed file is caught as it is copied."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.digest.update(data)
        return data


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    return info


def _write_archive(
    out: IO[bytes],
    keys: Keys,
    manifest: dict[str, Any],
    members: list[tuple[dict[str, Any], Opener_]],
) -> None:
    sealer = Sealer(out, keys)
    with tarfile.open(fileobj=sealer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        body = json.dumps(manifest, indent=1).encode()
        tar.addfile(_tarinfo(_MANIFEST, len(body)), io.BytesIO(body))
        for entry, open_member in members:
            with open_member() as fh:
                reader = _HashingReader(fh)
                tar.addfile(_tarinfo(entry["name"], entry["size"]), reader)
            if reader.digest.hexdigest() != entry["sha256"]:
                raise BackupError(
                    "The file of %(entry)s does not match its SHA-256: the blob store or "
                    "the snapshot is damaged; no backup was written.",
                    params={"entry": entry["name"]},
                )
    sealer.close()


@contextmanager
def _workdir(parent: Path, prefix: str) -> Iterator[Path]:
    """A private directory on ``parent``'s file system, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreSummary:
    """What a restore put in place: counts and sizes only."""

    archive_id: str
    revision: str
    blobs: int
    blob_bytes: int
    bases: list[str] = field(default_factory=list)


def _extract(
    path: Path, keys: Keys, work: Path, *, wanted: set[str] | None = None
) -> dict[str, Any]:
    """Open ``path``, check every member against the manifest and write the ``wanted`` ones (all
    by default) under ``work``; reads to the end so that a cut-off archive is refused."""
    with path.open("rb") as raw:
        opener = Opener(raw, keys)
        try:
            tar = tarfile.open(fileobj=opener, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as exc:
            raise _damaged("its contents") from exc
        with tar:
            manifest = _read_manifest(tar)
            expected = _expected_members(manifest)
            seen: set[str] = set()
            # tar.next(), not iteration: iterating a stream starts again at its first member
            while (info := tar.next()) is not None:
                entry = expected.get(info.name)
                if entry is None or info.name in seen or not info.isfile():
                    raise _damaged("its member list")
                if info.size != entry["size"]:
                    raise _damaged(info.name)
                seen.add(info.name)
                handle = tar.extractfile(info)
                assert handle is not None
                keep = wanted is None or info.name in wanted
                _copy_checked(handle, work / info.name if keep else None, entry)
            if seen != set(expected):
                raise _damaged("its member list (members are missing)")
        opener.drain()
    return manifest


def _expected_members(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's members by name, each name checked (no path leaves the staging dir)."""
    members = manifest.get("members")
    if not isinstance(members, list):
        raise _damaged("its manifest")
    expected: dict[str, dict[str, Any]] = {}
    for entry in members:
        name = entry.get("name") if isinstance(entry, dict) else None
        blob = _BLOB_MEMBER.fullmatch(name) if isinstance(name, str) else None
        plain = name in (_SQLITE_MEMBER, _PG_MEMBER, _KEY_MEMBER)
        if not (plain or (blob and name == blob_member(blob.group(3)))):
            raise _damaged("its manifest")
        if blob and entry.get("sha256") != blob.group(3):
            raise _damaged("its manifest")
        if not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
            raise _damaged("its manifest")
        assert isinstance(name, str)
        expected[name] = entry
    return expected


def _copy_checked(handle: IO[bytes], dest: Path | None, entry: dict[str, Any]) -> None:
    digest = hashlib.sha256()
    out: IO[bytes] | None = None
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # private, as the blob store's own files are (``mkstemp``)
        out = os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
    try:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
            if out is not None:
                out.write(block)
    finally:
        if out is not None:
            out.close()
    if digest.hexdigest() != entry["sha256"]:
        raise _damaged(entry["name"])


def _chain(main: dict[str, Any], bases: list[Path], keys: Keys) -> list[tuple[Path, str]]:
    """The base archives ``main`` needs, newest first, found among ``bases`` by id."""
    by_id: dict[str, Path] = {}
    for path in bases:
        by_id[str(read_manifest(path, keys)["id"])] = path
    chain: list[tuple[Path, str]] = []
    wanted = main.get("base")
    while wanted is not None:
        found = by_id.get(str(wanted))
        if found is None:
            raise BackupError(
                "This backup is incremental: it needs its base backup %(wanted)s (pass "
                "it with --base FILE; repeat --base for a longer chain). Nothing was "
                "written.",
                params={"wanted": wanted},
            )
        chain.append((found, str(wanted)))
        wanted = read_manifest(found, keys).get("base")
        if len(chain) > len(bases):
            raise _damaged("its chain of base backups")
    return chain


def _target_problem(instance: Instance) -> str | None:
    """Why the target is not empty, or ``None``."""
    data_dir = instance.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        return f"the data dir {data_dir} is not empty"
    if instance.kind == "sqlite":
        if instance.sqlite_path.exists():
            return f"the database file {instance.sqlite_path} exists"
        return None
    url = make_url(instance.database_url)
    schema = _schema_of(url)
    engine = make_engine(instance.database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                    " ON n.oid = c.relnamespace WHERE n.nspname = :s)"
                    " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                    " ON n.oid = p.pronamespace WHERE n.nspname = :s)"
                ),
                {"s": schema},
            ).scalar_one()
    finally:
        engine.dispose()
    return f"the database schema {schema} is not empty" if count else None


def restore(instance: Instance, archive: Path, keys: Keys, bases: list[Path]) -> RestoreSummary:
    """Restore ``archive`` (and the blobs of its ``bases``) into an empty ``instance``."""
    problem = _target_problem(instance)
    if problem is not None:
        raise BackupError(
            "Restore needs an empty target: %(problem)s. Nothing was written.",
            params={"problem": problem},
        )
    store = instance.blob_store()
    parent = instance.data_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _workdir(parent, ".fieldapp-restore-") as work:
        manifest = _extract(archive, keys, work)
        if manifest.get("database") != instance.kind:
            raise BackupError(
                "This is a backup of a %(database)s database; the target is %(kind)s. "
                "Nothing was written.",
                params={"database": manifest.get("database"), "kind": instance.kind},
            )
        chain = _chain(manifest, bases, keys)
        needed = {blob_member(s) for s in manifest.get("earlier_blobs", [])}
        for path, _ in chain:
            _extract(path, keys, work, wanted=needed)
        absent = [name for name in needed if not (work / name).is_file()]
        if absent:
            raise BackupError(
                "%(count)s blob(s) this backup needs are in none of its base "
                "backups (e.g. %(blob)s). Nothing was written.",
                params={"count": len(absent), "blob": absent[0].rsplit("/", 1)[1]},
            )
        if instance.kind == "sqlite":
            _check_sqlite(work / _SQLITE_MEMBER, str(manifest["alembic_revision"]))
        problem = _target_problem(instance)
        if problem is not None:
            raise BackupError(
                "Restore needs an empty target: %(problem)s. Nothing was written.",
                params={"problem": problem},
            )
        _install(instance, work, manifest, store)
    blob_entries = [
        m for m in manifest["members"] if m["name"].startswith("blobs/")
    ]  # this archive's own
    return RestoreSummary(
        archive_id=str(manifest["id"]),
        revision=str(manifest["alembic_revision"]),
        blobs=len(blob_entries) + len(needed),
        blob_bytes=sum(int(m["size"]) for m in blob_entries),
        bases=[archive_id for _, archive_id in chain],
    )


def _check_sqlite(path: Path, revision: str) -> None:
    """The restored file is a sound database at the manifest's revision (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _damaged("its database") from exc
    finally:
        conn.close()
    if ok != ("ok",) or found != (revision,):
        raise _damaged("its database")


def _install(instance: Instance, work: Path, manifest: dict[str, Any], store: BlobStorage) -> None:
    """Move the checked files into place (the database first: it is what a server looks for).

    A store other than the data dir's own ``blobs`` (an S3 bucket) gets the blobs first, each
    verified by the store as it is written, so no restored row ever names a missing one.
    """
    local = isinstance(store, BlobStore) and store.root == instance.data_dir / "blobs"
    if not local and (work / "blobs").is_dir():
        try:
            for path in sorted((work / "blobs").rglob("*")):
                if path.is_file():
                    written = store.write(path.read_bytes())
                    if written != path.name:
                        raise _damaged(f"blob {path.name}")
        except BlobStoreUnavailable as exc:
            raise BackupError(
                "%(message)s The database was not restored.", params={"message": exc.message}
            ) from exc
        shutil.rmtree(work / "blobs")
    if instance.kind == "postgresql":
        _pg_load(instance, work / _PG_MEMBER, str(manifest.get("schema") or "public"))
    else:
        instance.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(work / _SQLITE_MEMBER, 0o600)
        shutil.move(work / _SQLITE_MEMBER, instance.sqlite_path)
    instance.data_dir.mkdir(parents=True, exist_ok=True)
    if (work / "blobs").is_dir():
        shutil.move(work / "blobs", instance.data_dir / "blobs")
    if (work / _KEY_MEMBER).is_file():
        os.chmod(work / _KEY_MEMBER, 0o600)
        shutil.move(work / _KEY_MEMBER, instance.data_dir / _KEY_MEMBER)


def _pg_load(instance: Instance, dump: Path, source_schema: str) -> None:
    """Load the dump into the target schema in one transaction (``pg_restore`` to SQL, schema
    names rewritten line by line outside ``COPY`` data, piped into ``psql``): a failure leaves
    the schema as it was."""
    url = make_url(instance.database_url)
    target_schema = _schema_of(url)
    env = _pg_env(url)
    rewrite = _schema_rewriter(source_schema, target_schema)
    errors = dump.parent / "restore.err"
    with errors.open("wb") as err:
        producer = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
            [_tool("pg_restore"), "--no-owner", "--no-acl", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
        consumer = subprocess.Popen(  # noqa: S603
            [
                _tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                "--file=-",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        assert producer.stdout is not None and consumer.stdin is not None
        try:
            in_copy = False
            for line in producer.stdout:
                if in_copy:
                    in_copy = line != b"\\.\n"
                else:
                    in_copy = line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;")
                    line = rewrite(line)  # noqa: PLW2901
                consumer.stdin.write(line)
            consumer.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit status says so
        finally:
            # unread output must not block pg_restore: closing the pipe ends it (SIGPIPE)
            producer.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            producer_status = producer.wait()
            consumer_status = consumer.wait()
    if producer_status != 0 or consumer_status != 0:
        # psql's messages may quote row data: only their count is shown
        raise BackupError(
            "Loading the database failed (pg_restore exit %(producer_status)s, "
            "psql exit %(consumer_status)s); the schema was left as it was.",
            params={"producer_status": producer_status, "consumer_status": consumer_status},
        )


def _schema_rewriter(source: str, target: str) -> Any:
    """A function of a dump line: the source schema's name as the target's."""
    create = f"CREATE SCHEMA {source};\n".encode()
    qualified = re.compile(rb'(?<![\w"$])("?)' + re.escape(source.encode()) + rb"\1\.")
    replacement = target.encode() + b"."

    def rewrite(line: bytes) -> bytes:
        if line == create:
            return f"CREATE SCHEMA IF NOT EXISTS {target};\n".encode()
        if source == target:
            return line
        return qualified.sub(lambda _m: replacement, line)

    return rewrite
