"""The item codec: every registered type round-trips bit for bit (NaN payloads included), and
any hostile payload is a ``Rejected``, never a crash or an allocation beyond its size."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import struct
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posecog.nodes import items
from posecog.nodes.codec import CODEC, EXT_ARRAY, EXT_SCALAR, Codec, codec_item
from posecog.nodes.rejection import Rejected
from tests.fakes.items import NAN32, NAN64, instance, same


def test_every_public_item_type_is_registered_without_a_table() -> None:
    public = {
        obj
        for name in items.__all__
        if isinstance(obj := getattr(items, name), type) and dataclasses.is_dataclass(obj)
    }
    assert public == set(CODEC.types)
    assert CODEC.topic_name(items.CsiFrame) == "csi_frame"
    assert CODEC.topic_name(items.JoinedPose) == "joined_pose"


@pytest.mark.parametrize("cls", CODEC.types, ids=lambda c: c.__name__)
def test_every_item_type_round_trips_bit_for_bit(cls: type) -> None:
    rng = random.Random(cls.__name__)
    for _ in range(20):
        item = instance(cls, rng)
        back = CODEC.decode(CODEC.encode(item))
        assert same(item, back), (item, back)


def test_nan_payloads_and_numpy_scalars_keep_their_bits_and_types() -> None:
    kp = np.full((17, 2), NAN32, np.float32)
    pose = items.Pose(NAN64, 3, kp, np.float32(0.5), keypoint_confidence=None)
    back = CODEC.decode(CODEC.encode(pose))
    assert back.keypoints.tobytes() == kp.tobytes()
    assert struct.pack("<d", back.ts) == struct.pack("<d", NAN64)
    assert type(back.confidence) is np.float32 and back.keypoint_confidence is None
    assert not back.keypoints.flags.writeable  # immutable items: a read-only view


def test_what_cannot_cross_an_edge_is_refused_when_encoding() -> None:
    obj = items.Pose(0.0, 1, np.array([object()], dtype=object), 0.5)
    with pytest.raises(TypeError, match="dtype"):
        CODEC.encode(obj)
    with pytest.raises(TypeError, match="registered"):
        CODEC.encode({"ts": 1.0})


def test_a_type_registered_elsewhere_and_an_annotation_it_cannot_check() -> None:
    codec = Codec()

    @dataclasses.dataclass(frozen=True)
    class Reading:
        ts: float
        value: int

    codec.register(Reading)
    assert same(codec.decode(codec.encode(Reading(1.0, 2))), Reading(1.0, 2))

    @dataclasses.dataclass(frozen=True)
    class Loose:
        anything: Any

    with pytest.raises(TypeError, match="cannot check"):
        codec.register(Loose)
    assert callable(codec_item)


def _tree(item: Any) -> dict[str, Any]:
    return dict(msgpack.unpackb(CODEC.encode(item), raw=False, ext_hook=msgpack.ExtType))


def _pack(tree: Any) -> bytes:
    return bytes(msgpack.packb(tree, use_bin_type=True))


POSE = items.Pose(1.0, 1, np.zeros((17, 2), np.float32), 0.9)


def _array_ext(code: str, shape: tuple[int, ...], raw: bytes) -> msgpack.ExtType:
    head = struct.pack("<BB", len(code), len(shape)) + code.encode()
    return msgpack.ExtType(EXT_ARRAY, head + b"".join(struct.pack("<I", n) for n in shape) + raw)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"@type": "Nope"}, "unknown_type"),
        ({"@type": 3}, "unknown_type"),
        ({"@v": 2}, "bad_version"),
        ({"extra": 1}, "unknown_field"),
        ({"ts": "soon"}, "bad_field"),
        ({"node_id": True}, "bad_field"),
        ({"keypoints": [1, 2]}, "bad_field"),
        ({"keypoints": _array_ext("|O", (1,), b"\0" * 8)}, "bad_array"),
        ({"keypoints": _array_ext(">f4", (1,), b"\0" * 4)}, "bad_array"),
        ({"keypoints": _array_ext("<f4", (17, 2), b"\0" * 8)}, "bad_array"),
        ({"keypoints": _array_ext("<f4", (2**32 - 1,) * 8, b"")}, "bad_array"),
        ({"keypoints": _array_ext("<f8", (17, 2), b"\0" * 272)}, "bad_field"),  # not float32
        ({"keypoints": msgpack.ExtType(EXT_ARRAY, b"\x09\x40")}, "bad_array"),
        ({"keypoints": msgpack.ExtType(99, b"")}, "bad_msgpack"),
        (
            {"confidence": msgpack.ExtType(EXT_SCALAR, _array_ext("<f4", (2,), b"\0" * 8).data)},
            "bad_array",
        ),
    ],
)
def test_malformed_items_are_rejected_with_their_reason(
    change: dict[str, Any], reason: str
) -> None:
    tree = {**_tree(POSE), **change}
    with pytest.raises(Rejected) as exc:
        CODEC.decode(_pack(tree))
    assert exc.value.reason == reason


def test_missing_fields_not_maps_trailing_bytes_and_deep_nesting_are_rejected() -> None:
    tree = _tree(POSE)
    del tree["keypoints"]
    cases = {
        _pack(tree): "missing_field",
        _pack([1, 2]): "not_an_item",
        CODEC.encode(POSE) + b"\x00": "bad_msgpack",
        b"\x91" * 100_000 + b"\xc0": "bad_msgpack",
        b"": "bad_msgpack",
        b"\xdb\xff\xff\xff\xff": "bad_msgpack",  # a 4 GiB string announced, not there
        _pack({"@type": "JoinedPose", "@v": 1, "pose": {"@type": "Vitals"}}): "bad_field",
    }
    for payload, reason in cases.items():
        with pytest.raises(Rejected) as exc:
            CODEC.decode(payload)
        assert exc.value.reason == reason, payload[:20]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    with contextlib.suppress(Rejected):
        CODEC.decode(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_payloads_give_an_item_or_a_rejection(where: int, byte: int) -> None:
    payload = bytearray(CODEC.encode(items.JoinedPose(POSE, items.Vitals(1.0, 1, extra={"a": 1}))))
    payload[where % len(payload)] = byte
    try:
        item = CODEC.decode(bytes(payload))
    except Rejected:
        return
    assert isinstance(item, items.JoinedPose)
