"""Secrets are never printed (issue 10 point 3): runs given credentials in every place a user
puts them, against servers that echo what they were sent; every output stream is grepped."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from posecog.graph.secrets import Redactor
from tests.conftest import REPO

PASSWORD = "pw-" + "p4ssw0rd" * 3
TOKEN = "tok-" + "x" * 200  # longer than a drop detail: cut before masking, it leaked
CLI = [sys.executable, "-m", "posecog.cog.cli"]


class _Echo(BaseHTTPRequestHandler):
    """Answers 418 with the request line and headers in the body, as a careless server does."""

    def do_GET(self) -> None:
        body = f"you sent {self.requestline} {dict(self.headers)}".encode()
        self.send_response(418)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_for(args: list[str], seconds: float) -> tuple[int, str]:
    """Run the CLI, stop it with SIGTERM after ``seconds``; exit status and stdout + stderr."""
    proc = subprocess.Popen(
        [*CLI, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    return proc.returncode, out + err


def _assert_clean(text: str) -> None:
    for secret in (PASSWORD, TOKEN, TOKEN[:40], PASSWORD[:12]):
        assert secret not in text, f"{secret[:12]}... printed"


def test_sensing_url_credentials_and_an_echoing_server(echo_server: int) -> None:
    url = f"http://user:{PASSWORD}@127.0.0.1:{echo_server}/api/v1/sensing/latest?token={TOKEN}"
    code, text = _run_for(
        ["run", "live-http", "--set", f"sensing_url={url}", "--stats-interval", "0.5"], 3.0
    )
    assert code == 0
    assert '"reason":"http_status"' in text and "you sent GET" in text  # the echo was seen
    assert "127.0.0.1" in text  # the rest of the URL is still shown
    _assert_clean(text)


def test_ws_url_query_token_against_a_dead_server() -> None:
    url = f"ws://127.0.0.1:{_free_port()}/ws/sensing?token={TOKEN}"
    code, text = _run_for(["run", "live-ws", "--set", f"ws_url={url}"], 2.5)
    assert code == 0 and "source.down" in text
    _assert_clean(text)


def test_config_json_values(tmp_path: Path, echo_server: int) -> None:
    config = tmp_path / "config.json"
    url = f"http://admin:{PASSWORD}@127.0.0.1:{echo_server}/api/v1/sensing/latest?key={TOKEN}"
    config.write_text(json.dumps({"sensing_url": url, "poll_ms": 50}))
    code, text = _run_for(["run", "live-http", "--config", str(config)], 2.5)
    assert code == 0 and "run.started" in text
    _assert_clean(text)


def test_an_error_that_echoes_a_url_is_masked() -> None:
    url = f"ftp://user:{PASSWORD}@127.0.0.1/x?token={TOKEN}"  # not a URL http_poll takes
    code, text = _run_for(["run", "live-http", "--set", f"sensing_url={url}"], 30)
    assert code == 2 and "Error:" in text
    _assert_clean(text)


def test_the_redactor_masks_registered_values_and_url_credentials() -> None:
    r = Redactor()
    r.add_url(f"mqtt://bob:{PASSWORD}@broker:1883/?token={TOKEN}")
    r.add("s3")  # too short to register: masking it would garble every output
    text = r(f"login {PASSWORD} at 'https://eve:other@h/p?sig=abc' with {TOKEN} and s3")
    assert text == "login *** at 'https://***@h/p?***' with *** and s3"
    escaped = json.dumps({"detail": f'he said "{PASSWORD}"'})
    assert PASSWORD not in r(escaped)
    line = '{"event":"pose.frame","fields":{"keypoints":[[0.1,0.2]]}}'
    assert r(line) == line  # nothing to mask: unchanged


def test_a_parameter_marked_secret_is_masked_everywhere(tmp_path: Path) -> None:
    """A pipeline parameter declared ``secret: true`` whose value reaches a plain string field
    (here a recording path): masked in run.started and in the error that names the file."""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: p\nparameters:\n  api_key:\n    default: none\n    secret: true\n"
        "nodes:\n  - id: replay\n    type: jsonl_replay\n    config: {path: '${api_key}.jsonl'}\n"
        "  - id: window\n    type: sliding_window\n    inputs: [replay]\n"
        "  - id: pose\n    type: pose_infer\n    inputs: [window]\n    config: {model: ''}\n"
        "  - id: out\n    type: stdout_events\n    inputs: [pose]\n"
    )
    code, text = _run_for(["run", str(pipeline), "--set", f"api_key={PASSWORD}"], 30)
    assert code == 2 and "Error:" in text and ".jsonl" in text  # the error is still useful
    _assert_clean(text)
