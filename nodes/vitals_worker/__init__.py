"""The appliance's vitals worker over gRPC: the ``cognitum.vitals.v1`` protocol (this project's
proposal; ``proto/cognitum/vitals/v1/vitals.proto``, docs/vitals-worker.md) and both ends of
it, for the ``grpc_vitals`` source and the ``grpc_serve`` sink.

* ``protocol``: names, limits, addresses and channel options (no gRPC import: node configs
  and lint use it).
* ``convert``: items <-> messages (``CsiFrame``, ``Vitals``), checked on the way in.
* ``server``: ``VitalsHub`` (per-node state, subscribers with bounded drop-oldest buffers,
  heartbeats) and ``VitalsServer`` (the grpc.aio server with the standard health service).
* ``client``: the ``grpc_vitals`` reader (connect/read/close for the kernel's retry loop),
  de-duplication by ``(node_id, seq)``, and ``check_worker`` (``health --deep``).
* ``v1``: the generated code (``scripts/gen_proto.py``), committed.

gRPC and protobuf are imported by ``convert``, ``server``, ``client`` and ``v1`` only, which
nothing imports before a gRPC node is built, so ``version``, ``manifest`` and ``lint`` do not
load them.
"""
