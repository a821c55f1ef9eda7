"""Servers that misbehave on purpose (issue 10): a sensing-server whose answers alternate
between valid updates and every kind of broken one, over HTTP and WebSocket, and a WebSocket
server that stops answering pings. Through the real CLI: the run never crashes, every valid
update's frame comes out, every broken answer is counted under a reason."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXCERPT_B, REPO
from tests.fakes.sensing_server import updates_from_excerpt

CLI = [sys.executable, "-m", "posecog.cog.cli"]
VALID = updates_from_excerpt(EXCERPT_B)[:8]

#: What a careless or hostile server answers between valid updates (HTTP: status, body).
HTTP_BAD: list[tuple[int, bytes]] = [
    (200, b"<html>not json</html>"),
    (200, b"\xff\xfe\x00garbage"),  # not UTF-8
    (200, b"[" * 100000 + b"]" * 100000),  # nesting past any parser's depth
    (200, json.dumps({"type": "sensing_update", "tick": 10**400}).encode()),
    (200, json.dumps({**VALID[0], "tick": 900, "timestamp": 10**400}).encode()),
    (200, b"x" * (5 << 20)),  # larger than any update
    (500, b"internal error"),
    (404, b"no such thing"),
    (200, json.dumps({"type": "other"}).encode()),
]


def _pipeline(tmp_path: Path, source: str) -> Path:
    """The source alone with a sink that takes nothing it gives: its counts are the output."""
    path = tmp_path / "probe.yaml"
    path.write_text(
        f"name: probe\nnodes:\n{source}"
        "  - id: pose\n    type: pose_infer\n    inputs: [window]\n    config: {model: ''}\n"
        "  - id: window\n    type: sliding_window\n    inputs: [sensing]\n"
        "  - id: out\n    type: stdout_events\n    inputs: [pose]\n"
    )
    return path


def _run_until(path: Path, done: threading.Event, settle: float = 1.0) -> tuple[int, str, dict]:
    proc = subprocess.Popen(
        [*CLI, "run", str(path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert done.wait(60), "the server was not asked for everything"
        time.sleep(settle)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    finished = [json.loads(x) for x in out.splitlines() if '"run.finished"' in x]
    assert len(finished) == 1, err
    return proc.returncode, out + err, finished[0]["fields"]["nodes"]["sensing"]


@pytest.fixture
def http_server() -> Iterator[tuple[int, threading.Event]]:
    answers: list[tuple[int, bytes]] = []
    for k, update in enumerate(VALID):
        answers.append((200, json.dumps(update).encode()))
        answers.append(HTTP_BAD[k % len(HTTP_BAD)])
    answers += HTTP_BAD[len(VALID) :]
    done, lock = threading.Event(), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                status, body = answers.pop(0) if answers else (200, json.dumps(VALID[-1]).encode())
                if not answers:
                    done.set()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], done
    server.shutdown()
    server.server_close()


def test_a_misbehaving_http_server(tmp_path: Path, http_server: Any, probes: Any) -> None:
    port, done = http_server
    url = f"http://127.0.0.1:{port}/api/v1/sensing/latest"
    source = (
        "  - id: sensing\n    type: http_poll\n"
        f"    config: {{url: '{url}', poll_ms: 10, vitals: false, presence: false}}\n"
    )
    code, text, stats = _run_until(_pipeline(tmp_path, source), done)
    assert code == 0 and "Traceback" not in text
    assert stats["out"] == len(VALID)  # every valid update's frame, once
    dropped = stats.get("dropped", {})
    assert sum(dropped.values()) >= len(HTTP_BAD) - 2  # the 5xx are outages, not drops
    probes.record(
        "sensing-server over HTTP, misbehaving",
        len(VALID) + len(HTTP_BAD),
        crashes=int(code != 0 or "Traceback" in text),
        lost=len(VALID) - stats["out"],
    )


#: What a careless or hostile WebSocket server sends between valid updates.
WS_BAD: list[str | bytes] = [
    b"\x00\x01binary",
    "not json",
    json.dumps({"type": "sensing_update", "tick": "one"}),
    json.dumps({"type": "edge_vitals", "node_id": 10**400}),
    "[" * 50000 + "]" * 50000,
    json.dumps({"type": "wasm_event", "events": 5}),
    json.dumps({**VALID[0], "nodes": [{"node_id": 1, "amplitude": [float("nan")] * 56}]}),
]


def test_a_misbehaving_ws_server(tmp_path: Path, probes: Any) -> None:
    websockets = pytest.importorskip("websockets.asyncio.server")
    done = threading.Event()
    messages: list[str | bytes] = []
    for k, update in enumerate(VALID):
        messages += [json.dumps(update), WS_BAD[k % len(WS_BAD)]]
    port_box: list[int] = []
    stop = threading.Event()

    async def handler(conn: Any) -> None:
        for m in messages:
            await conn.send(m)
        done.set()
        await asyncio.sleep(30)

    async def main() -> None:
        async with websockets.serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port_box.append(server.sockets[0].getsockname()[1])
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    while not port_box:
        time.sleep(0.01)
    url = f"ws://127.0.0.1:{port_box[0]}/ws/sensing"
    source = (
        "  - id: sensing\n    type: ws_sensing\n"
        f"    config: {{url: '{url}', vitals: false, presence: false}}\n"
    )
    try:
        code, text, stats = _run_until(_pipeline(tmp_path, source), done)
    finally:
        stop.set()
        thread.join(5)
    assert code == 0 and "Traceback" not in text
    assert stats["out"] == len(VALID)
    assert sum(stats.get("dropped", {}).values()) >= len(WS_BAD)
    probes.record(
        "sensing-server over WebSocket, misbehaving",
        len(VALID) + len(VALID),
        crashes=int(code != 0 or "Traceback" in text),
        lost=len(VALID) - stats["out"],
    )


def test_a_ws_server_that_stops_answering_pings(tmp_path: Path) -> None:
    """It completes the handshake, then never reads again: the keepalive gives the connection
    up, reported as an outage; no library traceback (issue 10 point 9)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    accepted = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in data.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            magic = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key + magic).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            if len(held) >= 2:
                accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    source = (
        "  - id: sensing\n    type: ws_sensing\n"
        f"    config: {{url: 'ws://127.0.0.1:{port}/ws/sensing', keepalive_s: 0.3}}\n"
    )
    try:
        code, text, stats = _run_until(_pipeline(tmp_path, source), accepted, settle=0.2)
    finally:
        srv.close()
        for conn in held:
            conn.close()
    assert code == 0 and "Traceback" not in text
    downs = [json.loads(x) for x in text.splitlines() if '"source.down"' in x]
    assert downs and "keepalive" in downs[0]["fields"]["reason"]
    assert stats["outages"] >= 1
