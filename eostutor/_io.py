"""Writing files so that an interrupted write never destroys what was there before.

Everything eostutor saves (runs, experiment summaries, figures) goes through :func:`atomic_write`: the new
content is written to a temporary file in the same folder and moved over the target with ``os.replace``,
which is atomic on POSIX and Windows. Interrupted (Ctrl-C, a crash, a full disk), the old file is intact
and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_path"]


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary path beside ``path``; on normal exit it replaces ``path``, on any exception it is removed.

    For writers that want a file name rather than a file object (``fig.savefig(tmp)``, ``np.savez``).

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> open(target).read()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
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
