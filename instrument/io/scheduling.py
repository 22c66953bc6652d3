"""Operating-system scheduling for the processing thread: BLAS thread pools and SCHED_FIFO.

These are process and thread settings, not engine logic: the engine limits the
BLAS pools when it is built, ``latent perform`` and ``latent bench realtime``
put their processing thread on the real-time schedule.
"""

from __future__ import annotations

import os

from instrument.errors import ConfigError

#: SCHED_FIFO priority for the processing thread: above every normal process, below the JACK
#: server's driver (10 by default) and its clients' callback threads (5).
REALTIME_PRIORITY = 1


def limit_blas_threads(threads: int = 1) -> None:
    """Limit the process's BLAS/OpenMP thread pools to ``threads`` threads (threadpoolctl).

    Per-hop matrix products are tiny: extra BLAS threads only add wake-up
    latency, and on a loaded 2-core machine their spinning made one hop of a
    conv model 10x slower (116 ms instead of 10 ms). The engine therefore runs
    single-threaded BLAS by default.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


def realtime_scheduling(native_id: int = 0, priority: int = REALTIME_PRIORITY) -> bool:
    """Run a thread (``threading.Thread.native_id``; 0 = the caller) SCHED_FIFO at ``priority``.

    Why: the JACK/PortAudio callback thread is real-time but needs Python's GIL;
    a normal-priority thread holding the GIL while other processes preempt it
    makes the callback late (a JACK xrun, a PortAudio status flag) and the
    processing thread itself late (ring underflows). Measured on the loaded
    2-core machine (`latent bench realtime --rt-priority 1`): 0 ring underflows
    and 2-4 PortAudio flags per 60 s instead of 67-108 and 12-32. Threads the
    processing thread starts afterwards (the block-mode model helper) inherit it.

    Returns False (scheduling unchanged) where it is not permitted (no
    ``CAP_SYS_NICE`` or ``rtprio`` limit) or not supported (non-Linux).
    Raises :class:`ConfigError` when ``priority`` is not an integer in 1..99.
    """
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 99:
        raise ConfigError(f"real-time priority must be an integer in 1..99, got {priority!r}")
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(native_id, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:  # PermissionError without the right to real-time scheduling
        return False
    return True
