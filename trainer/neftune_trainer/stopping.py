"""Stop signals: SIGINT/SIGTERM ask the run to finish its current optimizer step, write a
checkpoint and a `stopped` event, and exit 0.

Signals often come in pairs a few milliseconds apart: coreutils `timeout` signals the child and
then its process group, a terminal's Ctrl-C reaches every process of the group while a launcher
(torchrun, accelerate) forwards it too, schedulers do the same. So a repeat within GRACE_S of the
first signal is the same request. Only a signal after the grace forces the exit (128 + signal
number), said in the event log and on stderr; a checkpoint being written then is left in its
`.tmp-*` folder, never half in place.

Python runs signal handlers in the main thread between bytecodes, so a long C++ call (a backward
pass of a big model) would delay a forced exit until it returns. The decision is therefore taken
in a watcher thread woken by `signal.set_wakeup_fd`, which the interpreter's C-level handler writes
the signal number to at once; torch releases the GIL in its long calls, so the watcher runs while
the main thread is inside them. The Python-level handler itself does nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _noop(signum, frame) -> None:
    # Replaces the default action (death, or KeyboardInterrupt); the watcher thread decides.
    pass


class StopFlag:
    """`requested` turns True on the first SIGINT/SIGTERM; the training loop polls it."""

    GRACE_S = 2.0

    def __init__(self, events=None, grace_s: Optional[float] = None):
        self.requested = False
        self.events = events  # an EventWriter (disabled on ranks other than 0), or None
        self.grace_s = self.GRACE_S if grace_s is None else grace_s
        self._first_at: Optional[float] = None
        self._first_name = ""
        self._previous: dict = {}
        self._previous_wakeup: Optional[int] = None
        self._reader: Optional[socket.socket] = None
        self._writer: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (e.g. a test thread)
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)  # set_wakeup_fd wants a non-blocking fd
        # The wakeup fd first, then the handlers: no signal can slip between the two.
        self._previous_wakeup = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, _noop)
        self._thread = threading.Thread(target=self._watch, args=(self._reader,), name="stop-signals", daemon=True)
        self._thread.start()

    def uninstall(self) -> None:
        if self._writer is None:
            return
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_wakeup if self._previous_wakeup is not None else -1)
        self._writer.close()  # the watcher reads end-of-file and ends
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._reader.close()
        self._reader = self._writer = self._thread = None

    # -- the watcher thread ----------------------------------------------------------------

    def _watch(self, reader: socket.socket) -> None:
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            for signum in data:  # one byte per signal delivered
                if signum in STOP_SIGNALS:
                    self.on_signal(signum, now)

    def on_signal(self, signum: int, now: float) -> None:
        name = signal.Signals(signum).name
        if not self.requested:
            self._first_at, self._first_name = now, name
            self.requested = True
            self._log(f"{name}: stopping after the current optimizer step (checkpoint, then `stopped`); a repeat "
                      f"within {self.grace_s:g} s is the same request, a signal after that exits at once", "info")
            return
        after = now - self._first_at
        if after <= self.grace_s:
            return  # the same request, delivered twice
        message = (f"{name} {after:.1f} s after {self._first_name} (more than the {self.grace_s:g} s grace): exiting "
                   f"at once with code {128 + signum}, without finishing the step or writing a checkpoint")
        self._log(message, "warning")
        try:
            os.write(sys.stderr.fileno(), f"error: {message}\n".encode())
        except (OSError, ValueError):
            pass
        os._exit(128 + signum)

    def _log(self, message: str, level: str) -> None:
        if self.events is None:
            return
        try:
            self.events.log(message, level)
        except (OSError, ValueError):  # the event file is being closed: the exit goes on regardless
            pass
