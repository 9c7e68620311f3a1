"""Errors the user can fix. They carry *where* the cause lies (file, line, field), which the
trainer writes into the `error` event so the extension can put a squiggle on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Where:
    file: Optional[str] = None
    line: Optional[int] = None
    field: Optional[str] = None

    def to_json(self) -> dict:
        # The events schema forbids extra keys and null values inside `where`: drop the unknowns.
        return {k: v for k, v in (("file", self.file), ("line", self.line), ("field", self.field)) if v is not None}

    def prefix(self) -> str:
        """`file:line: field: ` style prefix for one-line messages."""
        parts = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line else ""))
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) + ": " if parts else ""


class InputError(Exception):
    """Bad input (config, dataset, model folder). Exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str, where: Optional[Where] = None):
        super().__init__(message)
        self.message = message
        self.where = where
