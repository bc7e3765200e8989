"""Latest wins: run jobs so that only the newest request matters (no queue of stale runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["LatestWins"]


class LatestWins:
    """Run jobs so that only the newest request matters (no queue of stale runs).

    ``submit(job)`` bumps a generation counter and calls ``job(is_stale)``: synchronously, or in one
    background thread that first waits for the previous thread (which stops soon: its ``is_stale()`` is
    now True and ``train`` polls it every step) and is skipped if it has itself gone stale meanwhile.

    >>> jobs = LatestWins()
    >>> seen = []
    >>> jobs.submit(lambda is_stale: seen.append(is_stale()), background=False)
    >>> seen
    [False]
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._generation = 0
        self._thread: threading.Thread | None = None

    @property
    def generation(self) -> int:
        """Number of requests so far."""
        return self._generation

    def cancel(self) -> None:
        """Make every running or waiting job stale."""
        with self._lock:
            self._generation += 1

    def submit(self, job: Callable[[Callable[[], bool]], None], background: bool) -> threading.Thread | None:
        """Run ``job(is_stale)`` as the newest request; return the thread if in the background."""
        def is_stale() -> bool:
            return self._generation != gen

        def target():
            if prev is not None:
                prev.join()
            if not is_stale():
                job(is_stale)

        with self._lock:  # one step: two submits from two threads each see the other's thread
            self._generation += 1
            gen = self._generation
            prev = self._thread
            if background:  # started before it is published: a later submit or wait() can join it at once
                thread = threading.Thread(target=target, name=f"eostutor-run-{gen}", daemon=True)
                thread.start()
                self._thread = thread
        if not background:
            if prev is not None:
                prev.join()
            job(is_stale)
            return None
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the newest background job; True if nothing is running any more."""
        with self._lock:
            t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def busy(self) -> bool:
        """Whether a background job is running."""
        t = self._thread
        return t is not None and t.is_alive()
