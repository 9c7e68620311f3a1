"""Where a malformed JSON text breaks, as the extension reports it, so the dataset preview and the
trainer name the same line and column for the same record.

The extension (src/core/datasets/datasetFile.ts, decodeRecord) parses a record with V8's
JSON.parse and takes the offset from its message ("... in JSON at position N"); when the message
has no position it uses the end of the text ("Unexpected end of JSON input") or its own small
syntax walk (jsonErrorOffset). Python's json module reports other offsets (an unterminated string
at its opening quote, `tru}` at the `t`), so this module replays V8's parser rules: `v8_error`
gives V8's message and offset, `error_offset` the offset the extension ends up with. Offsets are
indexes into the Python string (code points); `utf16_len` turns a prefix into the UTF-16 count
that JavaScript and VS Code columns use.
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

_WS = " \t\r\n"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_ESCAPES = '"\\/bfnrt'

# V8 error kinds: "pos" (the message carries a position), "eos" (Unexpected end of JSON input),
# "token" (Unexpected token 'x', ... is not valid JSON: no position in the message).
V8Error = Tuple[str, int, str]


def utf16_len(s: str) -> int:
    """Length in UTF-16 code units (characters above U+FFFF count twice)."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def _unexpected_char(text: str, i: int) -> V8Error:
    # V8's ReportUnexpectedCharacter: the character's token decides the message.
    if i >= len(text):
        return ("eos", len(text), "Unexpected end of JSON input")
    c = text[i]
    if c == '"':
        return ("pos", i, "Unexpected string")
    if c in "-" + _DIGITS:
        return ("pos", i, "Unexpected number")
    return ("token", i, f"Unexpected token '{c}'")


def _string(text: str, i: int) -> Tuple[int, Optional[V8Error]]:
    """A string starting at the quote at i: (index after its closing quote, error)."""
    n = len(text)
    i += 1
    while True:
        if i >= n:
            return i, ("pos", n, "Unterminated string")
        c = text[i]
        if c == '"':
            return i + 1, None
        if c == "\\":
            i += 1
            if i >= n:
                return i, ("eos", n, "Unexpected end of JSON input")
            c = text[i]
            if ord(c) > 0xFF:
                return i, _unexpected_char(text, i)
            if c in _ESCAPES:
                i += 1
                continue
            if c == "u":
                for _ in range(4):
                    i += 1
                    if i >= n or text[i] not in _HEX:
                        return i, ("pos", min(i, n), "Bad Unicode escape")
                i += 1
                continue
            return i, ("pos", i, "Bad escaped character")
        if ord(c) < 0x20:
            return i, ("pos", i, "Bad control character in string literal")
        i += 1


def _number(text: str, i: int) -> Tuple[int, Optional[V8Error]]:
    n = len(text)
    if text[i] == "-":
        i += 1
    if i < n and text[i] == "0":
        i += 1
        if i < n and text[i] in _DIGITS:
            return i, ("pos", i, "Unexpected number")
    else:
        start = i
        while i < n and text[i] in _DIGITS:
            i += 1
        if i == start:
            return i, ("pos", i, "No number after minus sign")
    if i < n and text[i] == ".":
        i += 1
        if not (i < n and text[i] in _DIGITS):
            return i, ("pos", i, "Unterminated fractional number")
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in "eE":
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        if not (i < n and text[i] in _DIGITS):
            return i, ("pos", i, "Exponent part is missing a number")
        while i < n and text[i] in _DIGITS:
            i += 1
    return i, None


def _literal(text: str, i: int, word: str) -> Tuple[int, Optional[V8Error]]:
    if text.startswith(word, i):
        return i + len(word), None
    for k in range(1, len(word)):
        j = i + k
        if j >= len(text) or text[j] != word[k]:
            return j, _unexpected_char(text, j)
    return i + len(word), None  # not reached: startswith would have matched


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def _key(text: str, i: int, missing: str, first: bool) -> Tuple[int, Optional[V8Error]]:
    """An object key and its ':' at i (after whitespace); returns the index after the ':'. V8
    names a missing ':' only after an object's first key; after a later one, what is there."""
    if i >= len(text) or text[i] != '"':
        return i, ("pos", min(i, len(text)), missing)
    i, err = _string(text, i)
    if err:
        return i, err
    i = _skip_ws(text, i)
    if i >= len(text) or text[i] != ":":
        if not first:
            return i, _unexpected_char(text, i)
        return i, ("pos", min(i, len(text)), "Expected ':' after property name")
    return i + 1, None


def v8_error(text: str) -> Optional[V8Error]:
    """The first error V8's JSON.parse meets in `text`: (kind, offset, message), or None when it
    parses. Iterative, as V8's parser is: any nesting depth."""
    n = len(text)
    stack = []  # open containers: "{" or "["
    i = 0
    while True:
        # -- produce a value at i
        i = _skip_ws(text, i)
        if i >= n:
            return ("eos", n, "Unexpected end of JSON input")
        c = text[i]
        err = None
        if c == '"':
            i, err = _string(text, i)
        elif c in "-" + _DIGITS:
            i, err = _number(text, i)
        elif c == "{":
            i = _skip_ws(text, i + 1)
            if i < n and text[i] == "}":
                i += 1
            else:
                i, err = _key(text, i, "Expected property name or '}'", True)
                if err:
                    return err
                stack.append("{")
                continue
        elif c == "[":
            i = _skip_ws(text, i + 1)
            if i < n and text[i] == "]":
                i += 1
            else:
                stack.append("[")
                continue
        elif c == "t":
            i, err = _literal(text, i, "true")
        elif c == "f":
            i, err = _literal(text, i, "false")
        elif c == "n":
            i, err = _literal(text, i, "null")
        else:
            return _unexpected_char(text, i)
        if err:
            return err
        # -- a value ended at i: close containers until one wants another value
        while True:
            i = _skip_ws(text, i)
            if not stack:
                if i < n:
                    return ("pos", i, "Unexpected non-whitespace character after JSON")
                return None
            if stack[-1] == "{":
                if i < n and text[i] == ",":
                    i, err = _key(text, _skip_ws(text, i + 1), "Expected double-quoted property name", False)
                    if err:
                        return err
                    break
                if i >= n or text[i] != "}":
                    return ("pos", min(i, n), "Expected ',' or '}' after property value")
            else:
                if i < n and text[i] == ",":
                    i += 1
                    break
                if i >= n or text[i] != "]":
                    return ("pos", min(i, n), "Expected ',' or ']' after array element")
            stack.pop()
            i += 1


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class _Stop(Exception):
    pass


def extension_walk_offset(text: str) -> int:
    """The extension's jsonErrorOffset (datasetFile.ts), step for step: used there when V8's
    message has no position."""
    n = len(text)
    i = 0

    def ws() -> None:
        nonlocal i
        while i < n and text[i] in _WS:
            i += 1

    def at(k: int) -> Optional[str]:
        return text[k] if 0 <= k < n else None

    def lit(word: str) -> None:
        nonlocal i
        for ch in word:
            if at(i) != ch:
                raise _Stop
            i += 1

    def string() -> None:
        nonlocal i
        i += 1
        while i < n:
            c = ord(text[i])
            if c == 0x22:
                i += 1
                return
            if c < 0x20:
                raise _Stop
            if c == 0x5C and (at(i + 1) is None or at(i + 1) not in _ESCAPES + "u"):
                i += 1  # an escape V8 refuses stops here, at the character after the backslash
                raise _Stop
            i += 2 if c == 0x5C else 1
        raise _Stop

    def value() -> None:
        nonlocal i
        ws()
        c = at(i)
        if c == "{":
            i += 1
            ws()
            if at(i) == "}":
                i += 1
                return
            while True:
                ws()
                if at(i) != '"':
                    raise _Stop
                string()
                ws()
                if at(i) != ":":
                    raise _Stop
                i += 1
                value()
                ws()
                if at(i) == ",":
                    i += 1
                elif at(i) == "}":
                    i += 1
                    return
                else:
                    raise _Stop
        elif c == "[":
            i += 1
            ws()
            if at(i) == "]":
                i += 1
                return
            while True:
                value()
                ws()
                if at(i) == ",":
                    i += 1
                elif at(i) == "]":
                    i += 1
                    return
                else:
                    raise _Stop
        elif c == '"':
            string()
        elif c == "t":
            lit("true")
        elif c == "f":
            lit("false")
        elif c == "n":
            lit("null")
        elif c is not None and c in "-" + _DIGITS:
            m = _NUMBER.match(text[i:i + 400])
            if not m:
                raise _Stop
            i += len(m.group(0))
        else:
            raise _Stop

    try:
        value()
        ws()
        return i
    except _Stop:
        return min(i, n)


def error_offset(text: str) -> Optional[Tuple[int, str]]:
    """(offset, message) of the first error in `text` as the extension reports it, or None when
    JSON.parse accepts the text."""
    err = v8_error(text)
    if err is None:
        return None
    kind, offset, message = err
    if kind == "eos":
        offset = len(text)
    elif kind == "token":
        try:
            offset = extension_walk_offset(text)
        except RecursionError:  # the walk recurses; V8's own offset is as good a place
            pass
    return min(offset, len(text)), message
