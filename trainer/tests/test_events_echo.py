"""The stdout echo of events is best effort: the run goes on when nobody reads stdout."""

import json
import subprocess
import sys

from neftune_trainer.events import EventWriter


def test_a_broken_stdout_does_not_stop_the_event_file(tmp_path):
    # A child whose stdout is a pipe we close at once: every echo then fails with EPIPE.
    code = (
        "import sys\n"
        "from neftune_trainer.events import EventWriter\n"
        f"w = EventWriter({str(tmp_path)!r})\n"
        "for i in range(200):\n"
        "    w.emit('log', level='info', message='x' * 1000 + str(i))\n"
        "w.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert json.loads(lines[-1])["message"].endswith("199")


def test_events_are_flushed_per_line(tmp_path):
    w = EventWriter(str(tmp_path), echo=False)
    w.emit("log", level="info", message="first")
    # Another reader sees the line before close().
    assert json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])["message"] == "first"
    w.close()
