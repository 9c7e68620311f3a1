import os
import sys

from .cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # `... | head` closed the pipe early: the reader's choice, not an error. Point stdout at
    # /dev/null so the interpreter's own flush at exit does not raise again (Python's docs recipe).
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 128 + 13  # as a shell reports a process ended by SIGPIPE: the verdict was not written out
sys.exit(code)
