"""Fill forms with JavaRosa, the form engine inside ODK Collect, from tests.

The filler is ``tests/javarosa/FieldappFill.java``, compiled once per test session against the
``ODK_Validate.jar`` in the pyxform wheel (it bundles JavaRosa). It loads a form with its media
the way Collect does, starts a new instance (preloads, ``odk-instance-first-load``, ``uuid()``),
answers the questions it is given, gives required ones a simple valid default, and returns the
submission XML that Collect would send (non-relevant nodes dropped).

Usage::

    if not javarosa_available(): skip
    xml = fill(form_xml, {"households.csv": csv_bytes}, {"/data/household": uuid}, workdir=tmp_path)

Answer keys are generic XPaths without positions (``/data/group/question``); select multiple
values are space-separated. A list gives successive repeat instances their values, and
``"#repeat:/data/rep": n`` sets how many instances a repeat gets (by default as many as the
longest list inside it, 1 when it only has plain answers, else 0: the instance pyxform puts in
the form is deleted). ``"#property:username": "u"`` sets a metadata property as Collect's
PropertyManager does. An answer Collect would refuse (not among the choices, violating a
constraint, for a question that is never reached) makes :func:`fill` raise :class:`FillError`.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pyxform.validators.odk_validate import ODK_VALIDATE_PATH

JAR = Path(ODK_VALIDATE_PATH)
SOURCE = Path(__file__).resolve().parent / "javarosa" / "FieldappFill.java"
MAIN_CLASS = "FieldappFill"
# Short-lived JVMs: skip the optimising compiler and the parallel collector (~30% faster start).
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true")

EXIT_USAGE = 2
EXIT_MISSING_MEDIA = 3
EXIT_REJECTED = 4


class FillError(RuntimeError):
    """The filler failed; ``returncode`` is its exit code (3 missing media, 4 answer rejected)."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class FillResult:
    xml: bytes
    instance_id: str | None
    warnings: tuple[str, ...]
    attachments: dict[str, Path]  # file name -> the dummy file written for an upload question


def javarosa_available() -> bool:
    """Whether the filler can be built and run: ``java``, ``javac`` and pyxform's jar."""
    return bool(shutil.which("java") and shutil.which("javac") and JAR.is_file())


def _digest() -> str:
    h = hashlib.sha256(SOURCE.read_bytes())
    stat = JAR.stat()
    h.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_filler(tmp_dir: Path, *, timeout: float = 120.0) -> Path:
    """Compile the filler into ``tmp_dir`` (once per source version) and return its class dir."""
    target = Path(tmp_dir) / f"fieldapp-fill-{_digest()}"
    if (target / f"{MAIN_CLASS}.class").is_file():
        return target
    javac = shutil.which("javac")
    if javac is None or not JAR.is_file():
        raise FillError("javac or ODK_Validate.jar not found")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        command = [javac, "-nowarn", "-encoding", "UTF-8", "-cp", str(JAR), "-d", str(staging)]
        done = subprocess.run(
            [*command, str(SOURCE)], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise FillError(f"javac failed:\n{done.stderr}", returncode=done.returncode)
        try:
            staging.rename(target)  # atomic: a parallel build that finished first wins
        except OSError:
            if not (target / f"{MAIN_CLASS}.class").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def session_build() -> Path:
    """The filler built once for this process (in a temporary directory removed at exit)."""
    cache = Path(tempfile.mkdtemp(prefix="fieldapp-javarosa-"))
    atexit.register(shutil.rmtree, cache, True)
    return build_filler(cache)


def fill_result(
    form_xml: str,
    media: Mapping[str, bytes],
    answers: Mapping[str, object],
    *,
    workdir: Path,
    classes: Path | None = None,
    timeout: float = 60.0,
) -> FillResult:
    """Fill ``form_xml`` with JavaRosa; see the module docstring for ``answers``.

    :param media: the form's media files by name (``households.csv``), served as Collect would.
    :param workdir: a directory for this run's files (a fresh subdirectory is made per call).
    :param classes: a directory from :func:`build_filler`; by default one built once per process.
    :raises FillError: the form cannot be filled with these answers and media.
    """
    classes = classes or session_build()
    run_dir = Path(tempfile.mkdtemp(prefix="fill-", dir=workdir))
    form = run_dir / "form.xml"
    form.write_text(form_xml, encoding="utf-8")
    media_dir = run_dir / "media"
    media_dir.mkdir()
    for name, content in media.items():
        if PurePosixPath(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"media file name must be a plain name: {name!r}")
        (media_dir / name).write_bytes(content)
    out_dir = run_dir / "instance"
    out_dir.mkdir()
    out = out_dir / "submission.xml"
    answers_file = run_dir / "answers.json"
    answers_file.write_text(json.dumps(dict(answers)), encoding="utf-8")

    java = shutil.which("java") or "java"
    command = [
        java,
        *JAVA_OPTIONS,
        "-cp",
        f"{JAR}{os.pathsep}{classes}",
        MAIN_CLASS,
        str(form),
        str(media_dir),
        str(out),
        str(answers_file),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as err:
        raise FillError(f"JavaRosa filler did not finish within {timeout:g} s") from err
    if done.returncode != 0:
        raise FillError(
            f"JavaRosa filler failed (exit {done.returncode}): {done.stderr.strip()}",
            returncode=done.returncode,
            stderr=done.stderr,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    return FillResult(
        xml=out.read_bytes(),
        instance_id=report.get("instanceID"),
        warnings=tuple(report.get("warnings", ())),
        attachments={name: out_dir / name for name in report.get("attachments", ())},
    )


def fill(
    form_xml: str,
    media: Mapping[str, bytes],
    answers: Mapping[str, object],
    *,
    workdir: Path,
    timeout: float = 60.0,
) -> bytes:
    """The submission XML Collect would send for ``form_xml`` filled with ``answers``.

    :raises FillError: with the filler's stderr when it fails.
    """
    return fill_result(form_xml, media, answers, workdir=workdir, timeout=timeout).xml
