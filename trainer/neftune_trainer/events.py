"""The event stream: one JSON object per line in RUN_DIR/events.jsonl (the source of truth the
extension tails), flushed per line and echoed on stdout. Fields follow schemas/events.schema.json."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any, Optional

EVENTS_FILE = "events.jsonl"
SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity and the extension's JSON.parse rejects them. The training loop
    # stops with an error event on a non-finite loss, so this only guards other fields:
    # +-inf becomes +-1e308, NaN becomes 0.0 (the schema wants numbers).
    if isinstance(value, float) and not math.isfinite(value):
        return 1e308 if value > 0 else (-1e308 if value < 0 else 0.0)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events to RUN_DIR/events.jsonl. Only the main process writes (enabled=False on the
    others), so a multi-GPU run still produces one stream."""

    def __init__(self, run_dir: str, enabled: bool = True, echo: bool = True):
        self.path = os.path.join(run_dir, EVENTS_FILE)
        self.enabled = enabled
        self.echo = echo
        self._file = None
        # The stop-signal watcher thread logs too: one line at a time.
        self._lock = threading.Lock()
        if enabled:
            os.makedirs(run_dir, exist_ok=True)
            # Append: a resumed run continues the same stream.
            self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, type: str, **fields: Any) -> Optional[dict]:
        if not self.enabled:
            return None
        event = {"v": SCHEMA_VERSION, "type": type, "time": time.time(), **_clean(fields)}
        line = json.dumps(event, ensure_ascii=False)
        with self._lock:
            if self._file is None:
                return None  # closed
            self._file.write(line + "\n")
            self._file.flush()
            if self.echo:
                # The echo is a convenience; the file is the source of truth. A closed or broken
                # stdout (a pipe whose reader went away) must not end the run.
                try:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
                except (BrokenPipeError, OSError, ValueError):
                    self.echo = False
        return event

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
