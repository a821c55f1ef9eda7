"""Generated code of ``cognitum.vitals.v1`` (``../proto/cognitum/vitals/v1/vitals.proto``):
``vitals_pb2`` (messages, with ``vitals_pb2.pyi``) and ``vitals_pb2_grpc`` (stub, servicer
base). Written by ``scripts/gen_proto.py``; never edited by hand. Importing it needs
``protobuf`` (and ``grpcio`` for the grpc module), which nothing imports before a gRPC node
is built."""
