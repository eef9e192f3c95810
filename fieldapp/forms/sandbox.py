"""The XLSForm compile in a child process that can be stopped: a time limit and a memory limit.

pyxform runs in-process for as long as it likes, and a thread cannot be stopped, so one
pathological form would hold its request (and its memory) for minutes. Here the whole compile
(:func:`fieldapp.forms.xlsform.compile_xlsform`: file checks, content limits, pyxform) runs in a
child process. The parent waits at most ``timeout`` seconds for the answer and then kills the
child; the child limits its own address space (``memory_mb`` beyond what it started with) and,
as a backstop should the parent die, its CPU time.

Children come from a multiprocessing *forkserver*: a small process started once per server
process, with pyxform already imported, that forks a fresh child per compile. Forking the
multi-threaded gunicorn worker itself would not be safe (a lock held by another thread stays
held in the child), and starting a new interpreter per upload costs a second.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import resource
import signal
import threading
import warnings
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, Final

from fieldapp.errors import DomainError
from fieldapp.forms.xlsform import (
    CompiledForm,
    FormCompileError,
    FormProblem,
    UnreadableFormFile,
    _words,
    compile_xlsform,
)

__all__ = ["CompileLimits", "CompilerUnavailable", "compile_in_child", "warm_up"]

#: seconds the parent waits for a child that has been killed to be reaped
_REAP_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class CompileLimits:
    """Limits on one XLSForm compile.

    :param timeout: seconds before the compile is stopped and the form refused
        (``xlsform.too_slow``).
    :param memory_mb: megabytes of memory the compile may take beyond the child's start
        (``xlsform.too_much_memory`` when it needs more).
    """

    timeout: float = 30.0
    memory_mb: int = 1536


class CompilerUnavailable(DomainError):
    """The server could not start the converter (503); nothing is wrong with the form."""

    code = "xlsform.unavailable"
    http_status = 503


def compile_in_child(
    data: bytes, *, filename: str, max_bytes: int, limits: CompileLimits
) -> CompiledForm:
    """:func:`~fieldapp.forms.xlsform.compile_xlsform` in a child process, within ``limits``.

    :return: what ``compile_xlsform`` returns.
    :raises UnreadableFormFile: as ``compile_xlsform``.
    :raises FormCompileError: as ``compile_xlsform``; also ``xlsform.too_slow`` (422) when the
        compile does not finish within ``limits.timeout``, ``xlsform.too_much_memory`` (422)
        when it needs more memory than allowed, ``xlsform.converter_failed`` (422) when the
        converter stops in some other way.
    :raises CompilerUnavailable: no child process could be started (503).
    """
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process: Any = context.Process(  # type: ignore[attr-defined]
        target=_child,
        args=(sender, data, filename, max_bytes, limits),
        name="fieldapp-xlsform",
        daemon=True,
    )
    try:
        try:
            process.start()
        except OSError as err:
            raise CompilerUnavailable(
                "The server could not start the form converter just now. Try again in a minute.",
            ) from err
        finally:
            sender.close()  # the child holds its own end; without ours, its death reads as EOF
        outcome: tuple[Any, ...] | None = None
        if receiver.poll(limits.timeout):
            try:
                outcome = receiver.recv()
            except Exception:  # EOF: the child died without answering (or half-way through)
                outcome = None
        else:  # no answer and no EOF: still working
            raise _too_slow(limits)
    finally:
        receiver.close()
        if process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join(_REAP_SECONDS)
    if outcome is None:
        if process.exitcode == -signal.SIGXCPU:
            raise _too_slow(limits)
        raise _failed(limits)
    return _result(outcome, limits)


_warming = threading.Lock()


def warm_up() -> None:
    """Start the forkserver in the background, so that the next upload does not wait for it."""
    if not _warming.acquire(blocking=False):
        return  # started once already (the lock is never released)
    if _context().get_start_method() == "forkserver":

        def start() -> None:
            with contextlib.suppress(Exception):  # the first upload will try again and report
                forkserver.ensure_running()

        threading.Thread(target=start, name="fieldapp-forkserver", daemon=True).start()


@functools.cache
def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # "__main__" too: each child would otherwise import the main script again (as
        # multiprocessing does to find the target), costing that import on every upload.
        context.set_forkserver_preload(["__main__", "fieldapp.forms.sandbox"])
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - not on Linux


def _result(outcome: tuple[Any, ...], limits: CompileLimits) -> CompiledForm:
    kind = outcome[0]
    if kind == "ok":
        compiled = outcome[1]
        assert isinstance(compiled, CompiledForm)
        return compiled
    if kind == "problems":
        _kind, code, status, problems = outcome
        raise FormCompileError(problems, code=code, http_status=status)
    if kind == "unreadable":
        _kind, code, template, params, status = outcome
        raise UnreadableFormFile(template, code=code, http_status=status, params=params or None)
    if kind == "memory":
        raise _refused(
            "xlsform.too_much_memory",
            _words(
                "Converting this form needs more than %(size)s MB of memory, the most the server "
                "allows. Split it into smaller forms, or move long choice lists into a CSV file "
                "attached to the form (select_one_from_file).",
                size=f"{limits.memory_mb:,}",
            ),
        )
    raise _failed(limits)


def _refused(code: str, message: str) -> FormCompileError:
    # (the problem is made outside the error's call, where the catalogue's extraction finds it)
    return FormCompileError([FormProblem(message, code=code)], code=code)


def _too_slow(limits: CompileLimits) -> FormCompileError:
    message = _words(
        "Converting this form took longer than %(seconds)s seconds, so it was stopped. Very "
        "large forms, choice lists or expressions cause this: split the form, or move long "
        "choice lists into a CSV file attached to the form (select_one_from_file).",
        seconds=f"{limits.timeout:g}",
    )
    return _refused("xlsform.too_slow", message)


def _failed(limits: CompileLimits) -> FormCompileError:
    message = _words(
        "The converter stopped unexpectedly on this form (it may need more than the %(size)s MB "
        "of memory the server allows). Check the rows you changed last, or split the form.",
        size=f"{limits.memory_mb:,}",
    )
    return _refused("xlsform.converter_failed", message)


# -- the child -------------------------------------------------------------------------------


def _child(
    conn: Connection, data: bytes, filename: str, max_bytes: int, limits: CompileLimits
) -> None:
    """Compile and send the outcome as plain values; never raise (a traceback could quote the
    form), never print."""
    try:
        _limit_resources(limits)
        warnings.simplefilter("ignore")
        outcome: tuple[Any, ...]
        try:
            outcome = ("ok", compile_xlsform(data, filename=filename, max_bytes=max_bytes))
        except FormCompileError as err:
            outcome = ("problems", err.code, err.http_status, err.problems)
        except UnreadableFormFile as err:
            # template and params, so that pages can still translate the message
            outcome = ("unreadable", err.code, err.template, dict(err.params), err.http_status)
        except MemoryError:
            outcome = ("memory",)
        del data
        conn.send(outcome)
    except MemoryError:
        _send_quietly(conn, ("memory",))
    except BaseException:  # noqa: S110 - the parent reports a failed converter
        pass
    finally:
        conn.close()


def _send_quietly(conn: Connection, outcome: tuple[Any, ...]) -> None:
    with contextlib.suppress(BaseException):  # if not, the parent sees EOF: a failure
        conn.send(outcome)


def _limit_resources(limits: CompileLimits) -> None:
    """Cap this process's address space and CPU time (the parent's kill is the real limit)."""
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            start = int(statm.read().split()[0]) * page
    except (OSError, ValueError, IndexError):
        start = 0
    _lower(resource.RLIMIT_AS, start + limits.memory_mb * 1024 * 1024)
    _lower(resource.RLIMIT_CPU, int(limits.timeout) + 5)


def _lower(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    if soft == resource.RLIM_INFINITY or value < soft:
        resource.setrlimit(which, (value, hard))
