"""Stop signals that come before a run's own handlers are in place.

``run`` spends its first moments importing numpy and loading a model; a SIGTERM then would
kill the process with no ``run.finished``, a SIGINT print a ``KeyboardInterrupt`` traceback.
``catch_early`` installs handlers that only note the request (``STOP``); the runtime, handed
``STOP``, stops as soon as it starts, cleanly. Kept free of heavy imports: it runs first.
"""

from __future__ import annotations

import signal
import threading
import types

__all__ = ["STOP", "catch_early"]

#: Set by a SIGINT or SIGTERM received before the run started.
STOP = threading.Event()


def _note(_signum: int, _frame: types.FrameType | None) -> None:
    STOP.set()


def catch_early() -> None:
    """Note SIGINT/SIGTERM in ``STOP`` instead of their default action (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _note)
