"""A fake RuView sensing-server for tests: real HTTP and WebSocket servers on loopback.

It speaks the API of INTERFACES §3 from a list of recorded ``SensingUpdate`` objects (see
``updates_from_excerpt``), on two free loopback ports chosen at the first ``start`` (as the
server's Docker image has HTTP and WebSocket on two ports) and kept across ``stop``/``start``.
The ports are picked below the kernel's ephemeral range, not with port 0: a port from that
range, once freed by ``stop``, may be taken by any outgoing connection on the machine before
the fake listens on it again.

* ``GET /api/v1/sensing/latest``: ``{"status": "no data yet"}`` for the first ``no_data``
  requests, then update k for ``repeat`` requests in a row (the server's 100 ms repeats: many
  polls see the same tick), then update k + 1. With ``interval_s`` set, the update advances
  with the wall clock instead (one per ``interval_s``). With ``loop`` the updates go on past
  the list with increasing ticks and timestamps.
* ``GET /health``: ``{"status": "ok", "source", "tick", "clients"}``.
* ``/ws/sensing``: pushes every update ``ws_repeat`` times, an ``edge_vitals`` frame after
  every ``edge_vitals_every`` updates and a ``wasm_event`` after every ``wasm_every``, one
  update per ``ws_interval_s``. A reconnecting client goes on where the stream was.
* ``token``: ``/api/v1/*`` answers 401 with a text body unless ``Authorization: Bearer
  <token>``. Host check on every HTTP route: 400 without a Host header, 421 when it is neither
  loopback nor in ``allowed_hosts``.
* ``inject(...)`` / ``inject_ws(...)``: bodies or frames to send next, before the paced
  updates (garbage on demand); they do not advance the pace.
* ``stop()`` closes the listening sockets and every open connection (a crash, as seen by a
  client); ``start()`` again listens on the same ports and goes on with the same updates.

The record of what was served (``served_ticks``, ``ws_ticks``) lets tests compare with what a
client gave.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

__all__ = [
    "Canned",
    "FakeSensingServer",
    "multinode_updates",
    "updates_from_excerpt",
    "v1_update",
    "v1_updates_from_excerpt",
]

LOOPBACK = "127.0.0.1"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def updates_from_excerpt(
    path: Path, *, node_id: int = 1, first_tick: int = 1, vitals_every: int = 0
) -> list[dict[str, Any]]:
    """SensingUpdate objects from a variant B recording (``{"timestamp", "subcarriers"}``):
    one update per line with increasing ticks; with ``vitals_every`` > 0, a vitals-triggered
    update (empty amplitudes, its own tick) after every ``vitals_every`` frames."""
    out: list[dict[str, Any]] = []
    tick = first_tick
    for k, text in enumerate(path.read_text().splitlines()):
        row = json.loads(text)
        out.append(_update(tick, row["timestamp"], node_id, row["subcarriers"], k))
        tick += 1
        if vitals_every and (k + 1) % vitals_every == 0:
            out.append(_update(tick, row["timestamp"] + 0.01, node_id, [], k))
            tick += 1
    return out


def v1_updates_from_excerpt(path: Path, node_id: int = 1) -> list[dict[str, Any]]:
    """The messages of RuView's v1 Python sensing server (see ``v1_update``) from a variant B
    recording, one per line, sequences from 1000."""
    out: list[dict[str, Any]] = []
    for k, text in enumerate(path.read_text().splitlines()):
        row = json.loads(text)
        out.append(v1_update(row["timestamp"], node_id, 1000 + k, row["subcarriers"]))
    return out


def v1_update(ts: float, node_id: int, sequence: int, amps: list[float]) -> dict[str, Any]:
    """A message of RuView's v1 Python sensing server (``archive/v1/src/sensing/
    ws_server.py``, INTERFACES §9): ``sensing_update`` with no ``tick``, one node (the last
    that sent) with its ``sequence``, 56 amplitudes, ``freq_mhz``, ``mean_amplitude`` and
    ``source_addr``; no classification or vital signs."""
    node = {
        "node_id": node_id,
        "sequence": sequence,
        "amplitude": amps,
        "subcarrier_count": 64,
        "rssi_dbm": -45.0,
        "freq_mhz": 2437,
        "mean_amplitude": sum(amps) / len(amps),
        "source_addr": "192.168.1.50:5005",
    }
    return {
        "type": "sensing_update",
        "timestamp": ts,
        "source": "esp32",
        "nodes": [node],
        "features": {"mean_rssi": -45.0, "variance": 1.0},
    }


#: How long the server keeps listing a node after its last frame (s).
NODE_LISTED_S = 10.0


def multinode_updates(
    frames: list[tuple[float, int, list[float]]], *, first_tick: int = 1
) -> list[dict[str, Any]]:
    """SensingUpdates built the way RuView's server builds them (INTERFACES §9): one update on
    every frame of any node (``frames``: ``(ts, node_id, amplitudes)`` in time order), its
    ``nodes[]`` listing every node heard in the last 10 s with *that node's latest frame*; so a
    node's frame reappears, unchanged, in the updates of the other nodes' frames, and a node
    that stopped stays listed with its frozen frame for 10 s."""
    latest: dict[int, tuple[float, list[float]]] = {}
    out: list[dict[str, Any]] = []
    for k, (ts, node_id, amps) in enumerate(frames):
        latest[node_id] = (ts, amps)
        update = _update(first_tick + k, ts, node_id, amps, k)
        update["nodes"] = [
            {**update["nodes"][0], "node_id": n, "amplitude": a}
            for n, (seen, a) in sorted(latest.items())
            if ts - seen <= NODE_LISTED_S
        ]
        update["node_features"] = [
            {"node_id": n, "last_seen_ms": round((ts - seen) * 1000)}
            for n, (seen, _a) in sorted(latest.items())
            if ts - seen <= NODE_LISTED_S
        ]
        out.append(update)
    return out


def _update(tick: int, ts: float, node_id: int, amps: list[float], k: int) -> dict[str, Any]:
    return {
        "type": "sensing_update",
        "timestamp": ts,
        "source": "esp32",
        "tick": tick,
        "nodes": [
            {
                "node_id": node_id,
                "rssi_dbm": -40.0,
                "position": [2.0, 0.0, 1.5],
                "amplitude": amps,
                "subcarrier_count": 64,
            }
        ],
        "features": {"mean_rssi": -40.0, "variance": 1.5, "motion_band_power": 0.1},
        "classification": {
            "motion_level": "present_moving" if k % 2 else "present_still",
            "presence": True,
            "confidence": 0.8,
        },
        "signal_field": {"grid_size": [2, 1, 2], "values": [0.1, 0.2, 0.3, 0.4]},
        "vital_signs": {
            "breathing_rate_bpm": 14.0 + k % 3,
            "heart_rate_bpm": None,
            "breathing_confidence": 0.7,
            "heartbeat_confidence": 0.0,
            "signal_quality": 0.9,
        },
        "estimated_persons": 1,
    }


def _pick_port() -> int:
    """A free loopback port below the kernel's ephemeral range: while the fake is stopped,
    no client socket of this machine (other tests run in parallel) can take its port, so it
    can listen on the same port again. 0 (any free port) if none is found."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    return 0


@dataclass(frozen=True)
class Canned:
    """A canned HTTP answer."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeSensingServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def do_GET(self) -> None:
        answer = self.server.fake._http_answer(self.path, self.headers.get("Host"), self.headers)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)


class FakeSensingServer:
    """See the module docstring. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        updates: list[dict[str, Any]],
        *,
        repeat: int = 3,
        no_data: int = 1,
        interval_s: float | None = None,
        loop: bool = False,
        token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
        ws_repeat: int = 2,
        ws_interval_s: float = 0.001,
        edge_vitals_every: int = 10,
        wasm_every: int = 15,
    ) -> None:
        if not updates:
            raise ValueError("the fake needs at least one update")
        self.updates = updates
        self.repeat, self.no_data, self.interval_s, self.loop = repeat, no_data, interval_s, loop
        self.token, self.allowed_hosts = token, frozenset(allowed_hosts)
        self.ws_repeat, self.ws_interval_s = ws_repeat, ws_interval_s
        self.edge_vitals_every, self.wasm_every = edge_vitals_every, wasm_every
        self.http_port = self.ws_port = 0
        self.requests = 0  # paced /latest answers given
        self.served_ticks: list[int] = []  # tick of every paced /latest answer
        self.ws_ticks: list[int] = []  # tick of every update pushed (first send)
        self.ws_clients = 0
        self._lock = threading.Lock()
        self._injected: deque[Canned] = deque()
        self._ws_injected: deque[str | bytes] = deque()
        self._ws_next = 0
        self._conns: set[socket.socket] = set()
        self._httpd: _HttpServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._t0 = time.monotonic()
        first, last = updates[0]["timestamp"], updates[-1]["timestamp"]
        self._span = (last - first) * len(updates) / max(1, len(updates) - 1) or 1.0

    # -- addresses ------------------------------------------------------------------------------

    @property
    def latest_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}/api/v1/sensing/latest"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}/health"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.ws_port}/ws/sensing"

    # -- lifecycle ------------------------------------------------------------------------------

    #: ``mock_transport`` refuses every request while this is set.
    offline = False
    #: The close code each WebSocket client sent when it left (None: no close frame).
    ws_close_codes: list[int | None]

    def start(self) -> FakeSensingServer:
        if not hasattr(self, "ws_close_codes"):
            self.ws_close_codes = []
        self._stopping.clear()
        self.http_port = self.http_port or _pick_port()
        self.ws_port = self.ws_port or _pick_port()
        httpd = _HttpServer((LOOPBACK, self.http_port), _Handler)
        httpd.fake = self
        self.http_port = httpd.server_address[1]
        ws = serve(
            self._ws_handler,
            LOOPBACK,
            self.ws_port,
            process_request=self._ws_route,
            compression=None,
            ping_interval=None,
        )
        self.ws_port = ws.socket.getsockname()[1]
        self._httpd, self._ws = httpd, ws
        self._threads = [
            threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True),
            threading.Thread(target=ws.serve_forever, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (idempotent)."""
        self._stopping.set()
        httpd, ws, self._httpd, self._ws = self._httpd, self._ws, None, None
        if ws is not None:  # stop listening first, then close the connections (1001)
            ws.shutdown()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FakeSensingServer:
        return self.start()

    def mock_transport(self) -> Any:
        """The same HTTP answers in process, as an ``httpx.MockTransport`` (for http_poll on
        virtual time): no socket, so no real waiting. While ``offline`` is set, every request
        is refused as a closed port would refuse it."""
        import httpx

        def handle(request: httpx.Request) -> httpx.Response:
            if self.offline:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            path = request.url.raw_path.decode()
            answer = self._http_answer(path, request.headers.get("Host"), request.headers)
            headers = {"Content-Type": answer.content_type}
            return httpx.Response(answer.status, headers=headers, content=answer.body)

        return httpx.MockTransport(handle)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ------------------------------------------------------------------------------

    def update(self, k: int) -> dict[str, Any]:
        """Update number ``k``: past the list, the list again (looping) shifted in tick and
        time, or (not looping) the last update again."""
        n = len(self.updates)
        if k < n:
            return self.updates[k]
        if not self.loop:
            return self.updates[-1]
        base = self.updates[k % n]
        shift = k // n
        ticks = self.updates[-1]["tick"] - self.updates[0]["tick"] + 1
        return {
            **base,
            "tick": base["tick"] + shift * ticks,
            "timestamp": base["timestamp"] + shift * self._span,
        }

    def inject(self, *answers: Canned | dict[str, Any] | list[Any] | str | bytes) -> None:
        """Answer the next /latest requests with these (dicts and lists as JSON, text and
        bytes as they are)."""
        with self._lock:
            for a in answers:
                if isinstance(a, dict | list):
                    canned = Canned(json.dumps(a).encode())
                elif isinstance(a, str | bytes):
                    canned = Canned(a.encode() if isinstance(a, str) else a)
                else:
                    canned = a
                self._injected.append(canned)

    def inject_ws(self, *frames: str | bytes) -> None:
        """Send these frames next: text as text frames, bytes as binary frames."""
        with self._lock:
            self._ws_injected.extend(frames)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._conns.add if open_ else self._conns.discard)(conn)

    def _http_answer(self, path: str, host: str | None, headers: Any) -> Canned:
        if host is None:
            return Canned(b"missing Host header", 400, "text/plain")
        name = host.rsplit(":", 1)[0].strip("[]") if not host.endswith("]") else host.strip("[]")
        if name not in _LOOPBACK_HOSTS and name not in self.allowed_hosts:
            return Canned(b"Host not allowed", 421, "text/plain")
        authorized = headers.get("Authorization") == f"Bearer {self.token}"
        if path.startswith("/api/v1/") and self.token is not None and not authorized:
            return Canned(b"Unauthorized", 401, "text/plain")
        if path == "/health":
            tick = self.served_ticks[-1] if self.served_ticks else 0
            body = {"status": "ok", "source": "esp32", "tick": tick}
            return Canned(json.dumps({**body, "clients": self.ws_clients}).encode())
        if path != "/api/v1/sensing/latest":
            return Canned(b"not found", 404, "text/plain")
        with self._lock:
            if self._injected:
                return self._injected.popleft()
            k = self.requests
            self.requests += 1
        if k < self.no_data:
            return Canned(b'{"status": "no data yet"}')
        update = self._paced(k - self.no_data)
        with self._lock:
            self.served_ticks.append(update.get("tick", -1))
        return Canned(json.dumps(update).encode())

    def _paced(self, k: int) -> dict[str, Any]:
        """The update of the k-th paced /latest answer (k counted after the no-data ones)."""
        if self.interval_s is not None:
            return self.update(int((time.monotonic() - self._t0) / self.interval_s))
        return self.update(k // self.repeat)

    # -- WebSocket --------------------------------------------------------------------------

    def _ws_route(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.path != "/ws/sensing":
            return conn.respond(404, "not found\n")
        return None

    def _ws_handler(self, conn: ServerConnection) -> None:
        with self._lock:
            self.ws_clients += 1
        try:
            while True:  # until the connection closes (the client left, or stop())
                with self._lock:
                    frames = list(self._ws_injected)
                    self._ws_injected.clear()
                for frame in frames:
                    conn.send(frame)
                k = self._ws_next
                if k >= len(self.updates) and not self.loop:
                    with contextlib.suppress(TimeoutError):  # idle, but see the client leave
                        conn.recv(timeout=0.01)
                    continue
                self._ws_next += 1
                update = self.update(k)
                self.ws_ticks.append(update.get("tick", -1))
                text = json.dumps(update)
                # as the server does: the edge_vitals of a packet before the update it triggers
                if self.edge_vitals_every and (k + 1) % self.edge_vitals_every == 0:
                    conn.send(json.dumps(edge_vitals(update)))
                for _ in range(self.ws_repeat):
                    conn.send(text)
                if self.wasm_every and (k + 1) % self.wasm_every == 0:
                    conn.send(json.dumps(wasm_event(update)))
                self._stopping.wait(self.ws_interval_s)
        except ConnectionClosed as exc:
            self.ws_close_codes.append(exc.rcvd.code if exc.rcvd else None)
            pass
        finally:
            with self._lock:
                self.ws_clients -= 1


def edge_vitals(update: dict[str, Any]) -> dict[str, Any]:
    """An ``edge_vitals`` frame of the update's node (no timestamp, as the server sends)."""
    return {
        "type": "edge_vitals",
        "node_id": update["nodes"][0]["node_id"],
        "presence": True,
        "fall_detected": False,
        "motion": update["tick"] % 2 == 0,
        "breathing_rate_bpm": 15.0,
        "heartrate_bpm": 72.0,
        "n_persons": 1,
        "motion_energy": 0.25,
        "presence_score": 0.9,
        "rssi": -41,
    }


def wasm_event(update: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "wasm_event",
        "node_id": update["nodes"][0]["node_id"],
        "module_id": 3,
        "events": [{"event_type": "gesture", "value": 1.0}],
    }
