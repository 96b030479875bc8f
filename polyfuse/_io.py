"""Safe writes: atomic files and folders, an output-folder lock, and a preflight check.

- :func:`atomic_file` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: write to a temporary
  sibling, ``fsync`` it, then ``rename`` it over the target. A failure at any point (a full disk,
  a killed process) leaves the old file as it was and no temporary file behind.
- :func:`atomic_directory`: fill a temporary sibling folder, then swap it in (one atomic
  ``renameat2(RENAME_EXCHANGE)`` on Linux, two renames elsewhere). Files of the old folder that the
  new one does not hold are carried over, so nothing of the user's is lost.
- :func:`folder_lock`: one writer per output folder (``fcntl.flock``). The kernel drops the lock
  when its holder dies, so a lock file left by a killed run is never stale; a second run fails at
  once with an :class:`OutputError` naming the folder and the holder's pid.
- :func:`preflight_output`: a one-line :class:`OutputError` before any work when a folder is
  missing, not a folder, read-only or short of space.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

LOCK_NAME = ".polyfuse.lock"
"""The lock file :func:`folder_lock` keeps in a folder while it writes there."""

_RENAME_EXCHANGE = 2  # linux/fs.h
_HELD: dict[Path, int] = {}
"""Lock files this process holds, with their nesting depth (a lock is re-entrant in-process)."""


class OutputError(OSError):
    """An output that cannot be written: the message names the path and the reason in one line."""


# ---------------------------------------------------------------------------- files
def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_sibling(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{suffix}")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path`` atomically.

    The caller writes the yielded path (with any library: ``to_csv``, ``save_file``). On an
    exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    temp = _temp_sibling(target)
    try:
        yield temp
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (old content kept on any failure)."""
    with atomic_file(path) as temp, open(temp, "wb") as out:
        out.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (old content kept on any failure)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------------------- folders
def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2``; False where it is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # kernel or file system without RENAME_EXCHANGE
    raise OSError(code, os.strerror(code), str(b))


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(Path(root))


@contextlib.contextmanager
def atomic_directory(path: str | Path, drop: Collection[str] = ()) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it takes the place of ``path``.

    Entries of an existing ``path`` that the new folder does not hold are moved into it, except
    the names in ``drop`` (files the new content makes stale). On an exception the temporary
    folder is removed and ``path`` is untouched.
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()  # replace the folder it points to, not the link
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write the folder {target}: a file of that name is in the way")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_sibling(target, ".tmpdir")
    temp.mkdir()
    try:
        yield temp
        _fsync_tree(temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if not target.exists():
        os.rename(temp, target)
        _fsync_dir(target.parent)
        return
    if _exchange(temp, target):
        old = temp  # the old folder now lives at the temporary name
    else:
        old = _temp_sibling(target, ".old")
        os.rename(target, old)
        os.rename(temp, target)
    _fsync_dir(target.parent)
    for entry in sorted(os.listdir(old)):
        if entry not in drop and entry != LOCK_NAME and not (target / entry).exists():
            os.rename(old / entry, target / entry)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- lock
def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextlib.contextmanager
def folder_lock(folder: str | Path, name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if missing) while the block runs.

    The lock file is removed on release, and a folder created here is removed again if the block
    left it empty.

    Raises:
        OutputError: Another process holds the lock; the message names the folder and its pid.
    """
    root = Path(folder)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / name
    key = lock_path.resolve()
    if key in _HELD:  # this process holds it already (the CLI around the library, say)
        _HELD[key] += 1
        try:
            yield lock_path
        finally:
            _HELD[key] -= 1
        return
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{root} is in use by another polyfuse run (pid {_holder(lock_path)});"
                " wait for it to finish or write somewhere else"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file after we opened it: lock the new one
    _HELD[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock_path
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            lock_path.unlink()  # while still locked, so no one locks a file about to vanish
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                root.rmdir()  # a folder made only for the lock goes again (kept if anything was written)


# ---------------------------------------------------------------------------- preflight
def preflight_output(path: str | Path, kind: str = "folder", need_bytes: int = 0) -> Path:
    """Check that ``path`` can be written before any work starts; returns it as a ``Path``.

    ``kind="folder"``: ``path`` is (or will be created as) a folder. ``kind="file"``: ``path`` is
    a file whose folder must exist. The folder must be writable and have ``need_bytes`` free.

    Raises:
        OutputError: One line naming the path and what is wrong.
    """
    target = Path(path)
    if kind == "file":
        if target.is_dir():
            raise OutputError(f"{target} is a folder; give a file name (for example {target / 'out.csv'})")
        folder = target.parent
        if not folder.is_dir():
            raise OutputError(f"cannot write {target}: the folder {folder} does not exist")
    else:
        if target.exists() and not target.is_dir():
            raise OutputError(f"cannot write into {target}: it is a file, not a folder")
        folder = target
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the nearest existing ancestor is where the folder is created
    _check_writable(folder, target)
    free = shutil.disk_usage(folder).free
    if need_bytes and free < need_bytes:
        raise OutputError(
            f"not enough space to write {target}: {free / 2**20:.0f} MiB free in {folder},"
            f" {need_bytes / 2**20:.0f} MiB needed"
        )
    return target


def _check_writable(folder: Path, target: Path) -> None:
    """Create and delete a probe file in ``folder`` (``os.access`` misjudges read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".polyfuse-probe-", dir=folder)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputError(f"cannot write {target}: {folder} is read-only") from None
        raise OutputError(f"cannot write {target}: {error.strerror} in {folder}") from None
    os.close(fd)
    os.unlink(probe)
