"""Outputs that cannot be written end the run with one line; stops never hang and are never
failures (issue 10 point 4). Real processes, real pipes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from posecog.graph.runtime import STOP_TIMEOUT_S
from tests.conftest import REPO

CLI = [sys.executable, "-m", "posecog.cog.cli"]
FULL = Path("/dev/full")
PROBE = "unwritable outputs, stalled readers, early signals"


def _spawn(args: list[str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*CLI, *args], cwd=REPO, **kw)  # type: ignore[call-overload]


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["version"], ["manifest"], ["health"], ["run", "replay"]])
def test_a_full_disk_on_stdout_is_one_error_line_and_exit_1(args: list[str], probes: Any) -> None:
    with FULL.open("wb") as full:
        r = subprocess.run(
            [*CLI, *args],
            check=False,
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    probes.record(PROBE, 1, crashes=int("Traceback" in r.stderr))
    assert r.returncode == 1, r.stderr
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert "Traceback" not in r.stderr


def test_a_reader_that_leaves_ends_the_run_quietly(probes: Any) -> None:
    proc = _spawn(["run", "replay"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # as `| head -1` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 1
    probes.record(PROBE, 1, crashes=int("Traceback" in err))
    assert "Error" not in err and "Traceback" not in err and "BrokenPipe" not in err


def test_sigterm_with_a_stalled_reader_exits_0_in_bounded_time(tmp_path: Path, probes: Any) -> None:
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        proc = _spawn(["run", "replay"], stdout=subprocess.PIPE, stderr=stderr)
        try:
            time.sleep(3.0)  # nobody reads: the pipe fills and the sink blocks in a write
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            code = proc.wait(STOP_TIMEOUT_S + 10)
            took = time.monotonic() - t0
        finally:
            proc.kill()
            assert proc.stdout is not None
            proc.stdout.close()
    text = err.read_text()
    probes.record(PROBE, 1, crashes=int(code != 0 or "Traceback" in text))
    assert code == 0
    assert took < STOP_TIMEOUT_S + 3
    assert "Traceback" not in text and "Error" not in text
    assert "stopped: the run could not finish" in text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_first_moments_is_a_clean_stop(sig: signal.Signals, probes: Any) -> None:
    proc = _spawn(["run", "replay"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)  # still importing numpy and loading the model
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    probes.record(PROBE, 1, crashes=int(proc.returncode != 0 or b"Traceback" in err))
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    finished = [line for line in out.decode().splitlines() if '"run.finished"' in line]
    assert len(finished) == 1 and '"reason":"stopped"' in finished[0]
