"""Atomic file writes: write to a temporary file in the same directory, fsync, then rename.

A crash or an exception during the write never leaves a truncated file and never destroys the previous
version of the file. The new file gets the mode of the file it replaces, or else ``0o666`` minus the
umask, like a plain ``open(path, "w")`` (``tempfile.mkstemp`` alone would leave every output ``0o600``,
unreadable by colleagues on a shared server). A symlink, directory, FIFO or other non-regular file at
``path`` is refused with a ``ValueError`` naming it (replacing it would silently change what it is).

Temporary files are named ``.<name>.<pid>.<random>.tmp``; ones left by a killed process (whose pid is
no longer running) are removed by the next write to the same path.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from typing import IO, Iterator

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike, what: str = "output") -> str:
    """``path`` as a string, after refusing what an atomic replace must not clobber.

    Raises:
        ValueError: ``path`` is a symlink, a directory, or exists and is not a regular file.
    """
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{what} {path} is a symlink; refusing to replace it (give the target path)")
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{what} {path} is a directory; give a file path")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} {path} exists and is not a regular file (a FIFO, socket or device)")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale_temporaries(directory: str, base: str) -> None:
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it atomically replaces ``path``.

    Raises:
        ValueError: ``path`` is a symlink, a directory or a non-regular file (see the module docstring).
    """
    path = check_output_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(directory, base)
    try:
        file_mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        file_mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, file_mode)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except IsADirectoryError:  # a directory appeared at path meanwhile
            raise ValueError(f"output {path} is a directory; give a file path") from None
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTDIR):
                raise ValueError(f"output {path}: cannot replace it ({exc.strerror})") from None
            raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)
