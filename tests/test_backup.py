"""Backups as an operator makes them: real ``fieldapp backup``/``restore`` processes on a small
instance (SQLite file, or its own PostgreSQL schema), and the sealed format's own checks.

Every refusal must leave the target as it was: the data dir empty, the schema without a table.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest
from sqlalchemy import text

from fieldapp import backup
from fieldapp.db import make_engine
from tests.conftest import need
from tests.live import ROOT, LiveServer

PASSPHRASE = "a passphrase for the tests"
ON_POSTGRES = "postgresql" in os.environ.get("FIELDAPP_TEST_DATABASE_URL", "")


def need_pg_tools() -> None:
    if ON_POSTGRES:
        for tool in ("pg_dump", "pg_restore", "psql"):
            need(shutil.which(tool) is not None, f"{tool} not found (PostgreSQL client tools)")


def fieldapp(server: LiveServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", *args],
        capture_output=True,
        text=True,
        env={**server.env, "FIELDAPP_BACKUP_PASSPHRASE": PASSPHRASE, **env},
        cwd=ROOT,
        timeout=120,
    )


def blob_shas(server: LiveServer) -> set[str]:
    engine = server.engine()
    with engine.connect() as conn:
        shas = set(conn.execute(text("SELECT sha256 FROM blobs")).scalars())
    engine.dispose()
    return shas


def table_count(server: LiveServer) -> int:
    """Tables in the server's database: its schema's on PostgreSQL, the file's on SQLite."""
    if server.schema is None:
        path = server.data_dir / "live.sqlite3"
        if not path.exists():
            return 0
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    engine = make_engine(server._admin_url)
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s"
            ),
            {"s": server.schema},
        ).scalar_one()
    engine.dispose()
    return int(count)


def assert_untouched(target: LiveServer) -> None:
    assert list(target.data_dir.iterdir()) == []
    assert table_count(target) == 0
    leftovers = [p.name for p in target.data_dir.parent.iterdir() if p.name.startswith(".fieldapp")]
    assert leftovers == []


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An instance with a published form (its XLSForm is a blob) and a secret key file."""
    server = LiveServer(tmp_path_factory.mktemp("backup-source"))
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        (server.data_dir / "secret_key").write_text("the source's secret key")
        os.chmod(server.data_dir / "secret_key", 0o600)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def full_backup(source: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_pg_tools()
    archive = tmp_path_factory.mktemp("archives") / "full.fieldapp-backup"
    made = fieldapp(source, "backup", "--to", str(archive))
    assert made.returncode == 0, made.stderr
    assert "1 blobs" in made.stdout
    assert PASSPHRASE not in made.stdout + made.stderr
    return archive


@pytest.fixture
def target(tmp_path: Path) -> Iterator[LiveServer]:
    """An empty instance: a new data dir, and on PostgreSQL a new empty schema."""
    (tmp_path / "target").mkdir()
    server = LiveServer(tmp_path / "target")
    try:
        yield server
    finally:
        server.close()


# -- round trip and refusals --------------------------------------------------------------------


def test_restore_into_an_empty_target_gives_the_same_data_and_db_upgrade_finds_it_current(
    source: LiveServer, full_backup: Path, target: LiveServer
):
    restored = fieldapp(target, "restore", "--from", str(full_backup))
    assert restored.returncode == 0, restored.stderr
    (sha,) = blob_shas(target)
    assert blob_shas(source) == {sha}
    blob = target.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    key = target.data_dir / "secret_key"
    assert key.read_text() == "the source's secret key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    upgraded = fieldapp(target, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    engine = target.engine()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM form_versions")).scalar_one() == 1
    engine.dispose()


def test_backup_refuses_to_run_without_a_passphrase_or_recipient(source: LiveServer, tmp_path):
    result = fieldapp(source, "backup", "--to", str(tmp_path / "x"), FIELDAPP_BACKUP_PASSPHRASE="")
    assert result.returncode == 1
    assert "always encrypted" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_wrong_passphrase_is_refused_and_writes_nothing(full_backup: Path, target: LiveServer):
    result = fieldapp(
        target, "restore", "--from", str(full_backup), FIELDAPP_BACKUP_PASSPHRASE="not it"
    )
    assert result.returncode == 1
    assert "does not open with the passphrase" in result.stderr
    assert_untouched(target)


def test_a_flipped_byte_in_the_middle_is_refused_and_writes_nothing(
    full_backup: Path, target: LiveServer, tmp_path: Path
):
    damaged = tmp_path / "damaged"
    data = bytearray(full_backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    result = fieldapp(target, "restore", "--from", str(damaged))
    assert result.returncode == 1
    assert "damaged" in result.stderr
    assert_untouched(target)


def test_a_truncated_archive_is_refused_and_writes_nothing(
    full_backup: Path, target: LiveServer, tmp_path: Path
):
    cut = tmp_path / "cut"
    data = full_backup.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = fieldapp(target, "restore", "--from", str(cut))
    assert result.returncode == 1
    assert "truncated" in result.stderr
    assert_untouched(target)


def test_a_non_empty_data_dir_is_refused(full_backup: Path, target: LiveServer):
    (target.data_dir / "notes.txt").write_text("someone's file")
    result = fieldapp(target, "restore", "--from", str(full_backup))
    assert result.returncode == 1
    assert "needs an empty target" in result.stderr
    assert [p.name for p in target.data_dir.iterdir()] == ["notes.txt"]
    assert table_count(target) == 0


def test_a_non_empty_database_is_refused_and_left_as_it_was(
    source: LiveServer, full_backup: Path, target: LiveServer
):
    """The empty data dir of ``target`` with the source's own (full) database."""
    tables = table_count(source)
    shas = blob_shas(source)
    env = {"FIELDAPP_DATABASE_URL": source.database_url}
    result = fieldapp(target, "restore", "--from", str(full_backup), **env)
    assert result.returncode == 1
    assert "needs an empty target" in result.stderr
    assert list(target.data_dir.iterdir()) == []
    assert table_count(source) == tables
    assert blob_shas(source) == shas


def test_an_archive_is_never_overwritten(source: LiveServer, full_backup: Path):
    before = full_backup.read_bytes()
    result = fieldapp(source, "backup", "--to", str(full_backup))
    assert result.returncode == 1
    assert "exists already" in result.stderr
    assert full_backup.read_bytes() == before


# -- incremental ----------------------------------------------------------------------------------


def test_an_incremental_backup_holds_only_new_blobs_and_restores_with_its_base_and_a_lost_file_fails(
    tmp_path: Path, target: LiveServer
):
    need_pg_tools()
    server = LiveServer(tmp_path / "growing")
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        first = tmp_path / "first"
        assert fieldapp(server, "backup", "--to", str(first)).returncode == 0
        old = blob_shas(server)
        server.cli("forms", "publish", str(ROOT / "forms" / "home_visit.xlsx"))
        new = blob_shas(server) - old
        assert new
        second = tmp_path / "second"
        made = fieldapp(server, "backup", "--to", str(second), "--since", str(first))
        assert made.returncode == 0, made.stderr
        keys = backup.Keys(passphrase=PASSPHRASE)
        manifest = backup.read_manifest(second, keys)
        assert manifest["base"] == backup.read_manifest(first, keys)["id"]
        names = [m["name"] for m in manifest["members"]]
        database = "database.pgdump" if ON_POSTGRES else "database.sqlite3"
        assert sorted(names) == sorted([database] + [backup.blob_member(s) for s in new])
        assert set(manifest["earlier_blobs"]) == old

        alone = fieldapp(target, "restore", "--from", str(second))
        assert alone.returncode == 1
        assert "--base" in alone.stderr
        assert_untouched(target)

        restored = fieldapp(target, "restore", "--from", str(second), "--base", str(first))
        assert restored.returncode == 0, restored.stderr
        assert blob_shas(target) == old | new
        for sha in old | new:
            path = target.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        assert fieldapp(target, "db", "upgrade").returncode == 0

        # a blob row whose file is missing fails the next backup, naming the sha
        sha = sorted(new)[0]
        (server.data_dir / "blobs" / sha[:2] / sha[2:4] / sha).unlink()
        out = tmp_path / "out"
        out.mkdir()
        broken = fieldapp(server, "backup", "--to", str(out / "third"))
        assert broken.returncode == 1
        assert sha in broken.stderr
        assert list(out.iterdir()) == []
    finally:
        server.close()


def test_an_age_recipient_alone_seals_and_its_identity_opens(
    source: LiveServer, target: LiveServer, tmp_path: Path
):
    need_pg_tools()
    identity = pyrage.x25519.Identity.generate()
    archive = tmp_path / "to-age"
    made = fieldapp(
        source,
        "backup",
        "--to",
        str(archive),
        "--recipient",
        str(identity.to_public()),
        FIELDAPP_BACKUP_PASSPHRASE="",
    )
    assert made.returncode == 0, made.stderr
    no_key = fieldapp(target, "restore", "--from", str(archive))
    assert no_key.returncode == 1
    assert "does not open" in no_key.stderr
    key_file = tmp_path / "identity.txt"
    key_file.write_text(f"# created: for the tests\n{identity}\n")
    restored = fieldapp(
        target,
        "restore",
        "--from",
        str(archive),
        "--identity",
        str(key_file),
        FIELDAPP_BACKUP_PASSPHRASE="",
    )
    assert restored.returncode == 0, restored.stderr
    assert blob_shas(target) == blob_shas(source)


# -- the sealed format -----------------------------------------------------------------------------


KEYS = backup.Keys(passphrase=PASSPHRASE)


@pytest.fixture(autouse=True)
def _cheap_scrypt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The format tests seal many small archives: a low scrypt cost (read back from the
    header, as a restore does) keeps them quick."""
    if request.node.name.startswith(
        ("test_sealed", "test_reordered", "test_a_wrong_passphrase_opens")
    ):
        monkeypatch.setattr(backup, "SCRYPT_N", 2**10)


def seal(plain: bytes, chunk_size: int = 64) -> bytes:
    out = io.BytesIO()
    sealer = backup.Sealer(out, KEYS, chunk_size=chunk_size)
    for start in range(0, len(plain), 50):
        sealer.write(plain[start : start + 50])
    sealer.close()
    return out.getvalue()


def split(sealed: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the chunks (each with its length prefix)."""
    offset = len(backup.MAGIC)
    (length,) = struct.unpack(">I", sealed[offset : offset + 4])
    offset += 4 + length
    head, chunks = sealed[:offset], []
    while offset < len(sealed):
        (size,) = struct.unpack(">I", sealed[offset : offset + 4])
        chunks.append(sealed[offset : offset + 4 + size])
        offset += 4 + size
    return head, chunks


def open_all(sealed: bytes, keys: backup.Keys = KEYS) -> bytes:
    opener = backup.Opener(io.BytesIO(sealed), keys)
    parts = []
    while block := opener.read(1000):
        parts.append(block)
    return b"".join(parts)


PLAIN = bytes(range(256)) * 3


def test_sealed_chunks_round_trip_and_an_exact_multiple_ends_with_a_full_final_chunk():
    assert open_all(seal(PLAIN)) == PLAIN
    assert open_all(seal(b"")) == b""
    _, chunks = split(seal(b"x" * 128))
    assert len(chunks) == 2


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda h, c: h + b"".join([c[1], c[0], *c[2:]]), id="reordered"),
        pytest.param(lambda h, c: h + b"".join(c[:-1]), id="last chunk dropped"),
        pytest.param(lambda h, c: h + b"".join([c[0], *c]), id="chunk repeated"),
        pytest.param(lambda h, c: h + b"".join(c) + c[-1], id="bytes after the end"),
        pytest.param(lambda h, c: h.replace(b'"chunk_size": 64', b'"chunk_size": 65') + b"".join(c),
                     id="header changed"),
    ],
)  # fmt: skip
def test_reordered_cut_repeated_or_extended_chunks_are_refused(change):
    head, chunks = split(seal(PLAIN))
    assert len(chunks) > 3
    with pytest.raises(backup.BackupError, match=r"damaged|truncated"):
        open_all(change(head, chunks))


def test_a_wrong_passphrase_opens_nothing():
    with pytest.raises(backup.BackupError, match="does not open"):
        backup.Opener(io.BytesIO(seal(PLAIN)), backup.Keys(passphrase="another"))
