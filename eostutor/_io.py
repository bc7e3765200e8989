"""Writing files so that an interrupted write never destroys what was there before.

Everything eostutor saves (runs, experiment summaries, figures) goes through these helpers:

* :func:`atomic_write` / :func:`atomic_path`: one file. The new content is written to a temporary file in
  the same folder and moved over the target with ``os.replace``, which is atomic on POSIX and Windows.
  Interrupted (Ctrl-C, a crash, a full disk), the old file is intact and the temporary file is removed.
* :func:`atomic_folder`: a whole folder (an experiment's runs, summary and figures). The files are written
  into a temporary folder beside the target, which replaces the target only when everything is written.
* :func:`atomic_files`: several files into an existing folder that may hold other things (``python -m
  eostutor run --out .``): staged in a temporary subfolder, then moved in together (the files they replace
  are set aside first and come back if any move fails), with Ctrl-C held back for the few milliseconds of
  the moves.

Temporary names start with a dot and end in ``.part``; they are removed on failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_path", "atomic_folder", "atomic_files", "deferred_interrupt"]


def _fresh(parent: Path, name: str, suffix: str) -> Path:
    """A name beside ``parent / name`` that does not exist yet (created by the caller with O_EXCL / mkdir)."""
    return parent / f".{name}.{secrets.token_hex(4)}{suffix}"


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) inside the block; a Ctrl-C that arrived meanwhile is raised on exit.

    For short steps that must not be cut in half, such as moving finished files into place. Signals reach
    only the main thread; anywhere else this does nothing.

    >>> with deferred_interrupt():
    ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if received:  # also when the block failed: the Ctrl-C wins (the failure is its __context__)
            raise KeyboardInterrupt


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary path beside ``path``; on normal exit it replaces ``path``, on any exception it is removed.

    For writers that want a file name rather than a file object (``fig.savefig(tmp)``, ``np.savez``). The
    temporary file is created with the usual permissions (the umask applies), so the result has them too.

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> open(target).read()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _fresh(path.parent, path.name, ".part")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover (a 32-bit random clash)
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included: the old file must survive
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary binary file beside ``path``, flush it to disk, then move it over
    ``path``. Returns ``path``.

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "data.bin")
    >>> _ = atomic_write(target, lambda fh: fh.write(b"abc"))
    >>> open(target, "rb").read()
    b'abc'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def _new_folder(parent: Path, name: str, suffix: str) -> Path:
    while True:
        folder = _fresh(parent, name, suffix)
        try:
            folder.mkdir()  # the umask applies, unlike tempfile.mkdtemp's 0o700
            return folder
        except FileExistsError:  # pragma: no cover
            continue


@contextlib.contextmanager
def atomic_folder(path) -> Iterator[Path]:
    """An empty temporary folder beside ``path``; on normal exit it replaces the folder ``path`` as a whole,
    on any exception (Ctrl-C included) it is removed and ``path`` is untouched.

    The replacement is two renames (the old folder aside, the new one in) with Ctrl-C held back in between;
    the old folder is then deleted. Callers decide whether ``path`` may be replaced (see
    :func:`eostutor.experiments.base.check_result_folder`).

    Raises:
        ValueError: If ``path`` exists and is not a folder.

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "result")
    >>> with atomic_folder(target) as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> sorted(os.listdir(target))
    ['a.txt']
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_folder(path.parent, path.name, ".part")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with deferred_interrupt():
        old = None
        try:
            if path.exists():
                old = _fresh(path.parent, path.name, ".old")
                os.rename(path, old)
            os.rename(tmp, path)
        except BaseException:
            if old is not None and not path.exists():
                os.rename(old, path)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old is not None:
            if old.is_symlink():  # `path` was a link to a folder: the link goes, its target stays
                old.unlink()
            else:
                shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_files(folder) -> Iterator[Path]:
    """An empty staging folder for files that go into ``folder`` (which may hold other files): on normal
    exit every file written into it is moved into ``folder`` (replacing files of the same name), on any
    exception nothing in ``folder`` changes.

    If ``folder`` does not exist yet it is created whole, as with :func:`atomic_folder`.

    Raises:
        ValueError: If ``folder`` exists and is not a folder.

    >>> import tempfile, os
    >>> target = tempfile.mkdtemp()
    >>> _ = open(os.path.join(target, "keep.txt"), "w").write("mine")
    >>> with atomic_files(target) as tmp:
    ...     _ = (tmp / "run.txt").write_text("new")
    >>> sorted(os.listdir(target))
    ['keep.txt', 'run.txt']
    """
    folder = Path(folder)
    if not folder.exists():
        with atomic_folder(folder) as tmp:
            yield tmp
        return
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a folder")
    tmp = _new_folder(folder, "eostutor", ".part")
    try:
        yield tmp
        with deferred_interrupt():
            _move_all(sorted(tmp.iterdir()), folder, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_all(items: list[Path], folder: Path, staging: Path) -> None:
    """Move the files ``items`` into ``folder``, all or none.

    A file they replace gets a second name (a hard link) in ``staging`` first, so that ``os.replace`` can
    swap the new one in without a moment where the name is missing; if any move fails, the new files go and
    the old ones come back. Checked before anything moves: every item is a file and no target is a folder.
    """
    for item in items:
        target = folder / item.name
        if item.is_dir() or (target.is_dir() and not target.is_symlink()):
            raise IsADirectoryError(errno.EISDIR, "a folder cannot replace or be replaced by a file", str(target))
    moved: list[tuple[Path, Path | None]] = []  # (target, its old file's second name, or None if it was new)
    try:
        for item in items:
            target = folder / item.name
            backup = None
            if target.exists() or target.is_symlink():
                backup = staging / f".old.{item.name}"
                try:
                    os.link(target, backup, follow_symlinks=False)
                except OSError:  # no hard links on this file system: set it aside (missing for a moment)
                    os.rename(target, backup)
            os.replace(item, target)
            moved.append((target, backup))
    except BaseException:
        for target, backup in reversed(moved):
            if backup is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(backup, target)
        # (an item that failed after its old file was set aside by rename: put that back too)
        for item in items:
            backup, target = staging / f".old.{item.name}", folder / item.name
            if backup.exists() and not target.exists():
                os.replace(backup, target)
        raise
