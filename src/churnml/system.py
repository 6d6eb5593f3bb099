"""Facts about the machine the process runs on."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity set on Linux, else all of them).

    Batch scoring starts one worker process per CPU and the HTTP service one worker;
    in a container limited by affinity, ``os.cpu_count()`` would overcount.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
