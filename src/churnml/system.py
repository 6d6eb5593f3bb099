"""Facts about the machine the process runs on."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from joblib import Parallel


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity set on Linux, else all of them).

    Batch scoring starts one worker process per CPU and the HTTP service one worker;
    in a container limited by affinity, ``os.cpu_count()`` would overcount.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that the same clean-up runs.

    A subclass of :class:`KeyboardInterrupt`, so that ``except Exception`` blocks never
    swallow it and joblib stops its workers exactly as it does on Ctrl-C.
    """


def interruption(error: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind ``error``, if an interrupt is what caused it.

    A library may catch the interrupt and fail in its clean-up: pyspark closes its py4j
    connection and the next call there raises "Answer from Java side is empty". The
    interrupt then survives only in the error's context chain; finding it lets the job
    exit as interrupted (130/143) rather than as failed.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def reraise_interruption(error: BaseException) -> None:
    """Raise the interrupt behind ``error`` if there is one (see :func:`interruption`)."""
    stop = interruption(error)
    if stop is not None:
        raise stop from None


def raise_on_sigterm() -> None:
    """Turn SIGTERM (what schedulers and ``timeout`` send) into :class:`Terminated`."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@functools.cache
def exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """In a worker process: exit as soon as ``parent_pid`` is gone.

    A job killed with SIGKILL cannot stop its process pool; without this its workers
    (and loky's resource tracker, which waits for them) would keep running. Started once
    per worker process (cached); a no-op in the parent itself.
    """
    if parent_pid == os.getpid():
        return

    def watch() -> None:
        while _parent_alive(parent_pid):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="churnml-parent-watch", daemon=True).start()


def worker_pool(n_jobs: int, **parallel_args: Any) -> Parallel:
    """joblib's loky process pool whose workers exit with this process.

    Each worker starts :func:`exit_with_parent` as it boots (loky's ``initializer``),
    so even a worker that never received a task leaves when the job is killed.
    """
    from joblib import Parallel
    from joblib._parallel_backends import LokyBackend

    backend = LokyBackend(initializer=exit_with_parent, initargs=(os.getpid(),))
    return Parallel(n_jobs=n_jobs, backend=backend, **parallel_args)
