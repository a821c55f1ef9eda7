"""What both ends of ``cognitum.vitals.v1`` agree on: names, limits, addresses, channel options.

Plain data only (no gRPC import), so node configs can validate against it at lint time.

Keepalive is matched between the ends: the client pings every ``keepalive_s`` (at least
``MIN_CLIENT_PING_S``) and gives the connection up when an answer takes ``KEEPALIVE_TIMEOUT_S``;
the server accepts pings that often (``grpc.http2.min_recv_ping_interval_without_data_ms``, by
default gRPC servers refuse pings more often than every 5 minutes and close the connection
with ENHANCE_YOUR_CALM) and pings idle clients itself. Heartbeats (data) keep a subscription
busy anyway; keepalive notices a peer that vanished without closing (power cut, cable).
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = [
    "DEFAULT_ADDRESS",
    "GET_LATEST",
    "HEARTBEAT_MS_MAX",
    "HEARTBEAT_MS_MIN",
    "MIN_CLIENT_PING_S",
    "REVISION",
    "SERVICE",
    "SUBSCRIBE",
    "client_options",
    "parse_address",
    "server_options",
]

#: The service's full name (the package carries the major version).
SERVICE = "cognitum.vitals.v1.VitalsService"
SUBSCRIBE = f"/{SERVICE}/Subscribe"
GET_LATEST = f"/{SERVICE}/GetLatest"
#: The revision of v1 this code speaks (the proto's header lists them).
REVISION = 1
#: Where the appliance's worker listens, and where grpc_serve listens by default.
DEFAULT_ADDRESS = "127.0.0.1:50054"

#: Heartbeat periods a subscriber may ask for (ms); 0 asks for the server's default.
HEARTBEAT_MS_MIN = 10
HEARTBEAT_MS_MAX = 3_600_000

#: The shortest client ping interval a server of this project accepts (s).
MIN_CLIENT_PING_S = 5.0
#: How long a ping's answer may take before the connection is given up (s), both ends.
KEEPALIVE_TIMEOUT_S = 5.0
#: The server pings a client after this long without activity (s).
SERVER_PING_S = 30.0
#: Largest request a server reads (bytes): requests are a few node ids.
MAX_REQUEST_BYTES = 64 << 10


def parse_address(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for an IPv6 literal) -> (host, port); ``ValueError`` saying
    what must hold otherwise. Port 0 only with ``any_port`` (a server picking a free one)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"must be host:port (e.g. {DEFAULT_ADDRESS}); got {text!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"an IPv6 address must be in brackets, [::1]:port; got {text!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"not an IPv6 address: {host[1:-1]!r}") from None
    elif ":" in host:
        raise ValueError(f"an IPv6 address must be in brackets, [{host}]:port; got {text!r}")
    elif any(c.isspace() or c in "/@?#" for c in host):
        raise ValueError(f"must be a host name or an IP address; got {host!r}")
    port = int(port_text)
    low = 0 if any_port else 1
    if not low <= port <= 65535:
        raise ValueError(f"port must be {low}..65535; got {port}")
    return host, port


def client_options(
    keepalive_s: float, max_message_bytes: int, reconnect_s: tuple[float, float]
) -> list[tuple[str, Any]]:
    """Channel options of a subscriber. ``reconnect_s`` (min, max) bounds gRPC's own
    reconnect backoff to the kernel's retry policy (its default starts at 1 s and grows to
    120 s), and each channel has its own subchannels: a new channel never inherits another's
    backoff, so a reconnect is attempted when the kernel says."""
    low, high = (max(1, round(s * 1000)) for s in reconnect_s)
    return [
        ("grpc.keepalive_time_ms", round(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", round(KEEPALIVE_TIMEOUT_S * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.initial_reconnect_backoff_ms", low),
        ("grpc.min_reconnect_backoff_ms", low),
        ("grpc.max_reconnect_backoff_ms", high),
        ("grpc.enable_http_proxy", 0),  # a local worker: never through a proxy from the env
    ]


def server_options(max_send_bytes: int) -> list[tuple[str, Any]]:
    """Server options: accept the clients' keepalive pings (see the module docstring), ping
    idle clients, refuse oversized requests."""
    return [
        ("grpc.http2.min_recv_ping_interval_without_data_ms", round(MIN_CLIENT_PING_S * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", round(SERVER_PING_S * 1000)),
        ("grpc.keepalive_timeout_ms", round(KEEPALIVE_TIMEOUT_S * 1000)),
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ("grpc.max_send_message_length", max_send_bytes),
    ]
