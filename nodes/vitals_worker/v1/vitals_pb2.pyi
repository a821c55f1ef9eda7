# Generated from cognitum/vitals/v1/vitals.proto by scripts/gen_proto.py (grpcio-tools 1.85.1).
# Do not edit: change the proto and run the script; tests fail when this drifts.
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EstimateStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESTIMATE_STATUS_UNSPECIFIED: _ClassVar[EstimateStatus]
    ESTIMATE_STATUS_VALID: _ClassVar[EstimateStatus]
    ESTIMATE_STATUS_DEGRADED: _ClassVar[EstimateStatus]
    ESTIMATE_STATUS_UNRELIABLE: _ClassVar[EstimateStatus]
    ESTIMATE_STATUS_UNAVAILABLE: _ClassVar[EstimateStatus]
ESTIMATE_STATUS_UNSPECIFIED: EstimateStatus
ESTIMATE_STATUS_VALID: EstimateStatus
ESTIMATE_STATUS_DEGRADED: EstimateStatus
ESTIMATE_STATUS_UNRELIABLE: EstimateStatus
ESTIMATE_STATUS_UNAVAILABLE: EstimateStatus

class SubscribeRequest(_message.Message):
    __slots__ = ("node_ids", "buffer_size", "heartbeat_ms")
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_SIZE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_MS_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[int]
    buffer_size: int
    heartbeat_ms: int
    def __init__(self, node_ids: _Optional[_Iterable[int]] = ..., buffer_size: _Optional[int] = ..., heartbeat_ms: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("frame", "vitals", "sync", "heartbeat", "overflow")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    frame: CsiFrame
    vitals: Vitals
    sync: SyncComplete
    heartbeat: Heartbeat
    overflow: Overflow
    def __init__(self, frame: _Optional[_Union[CsiFrame, _Mapping]] = ..., vitals: _Optional[_Union[Vitals, _Mapping]] = ..., sync: _Optional[_Union[SyncComplete, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., overflow: _Optional[_Union[Overflow, _Mapping]] = ...) -> None: ...

class CsiFrame(_message.Message):
    __slots__ = ("node_id", "seq", "ts_ns", "amplitude", "subcarrier_count", "rssi_dbm")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TS_NS_FIELD_NUMBER: _ClassVar[int]
    AMPLITUDE_FIELD_NUMBER: _ClassVar[int]
    SUBCARRIER_COUNT_FIELD_NUMBER: _ClassVar[int]
    RSSI_DBM_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    seq: int
    ts_ns: int
    amplitude: _containers.RepeatedScalarFieldContainer[float]
    subcarrier_count: int
    rssi_dbm: float
    def __init__(self, node_id: _Optional[int] = ..., seq: _Optional[int] = ..., ts_ns: _Optional[int] = ..., amplitude: _Optional[_Iterable[float]] = ..., subcarrier_count: _Optional[int] = ..., rssi_dbm: _Optional[float] = ...) -> None: ...

class VitalEstimate(_message.Message):
    __slots__ = ("value_bpm", "confidence", "status")
    VALUE_BPM_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    value_bpm: float
    confidence: float
    status: EstimateStatus
    def __init__(self, value_bpm: _Optional[float] = ..., confidence: _Optional[float] = ..., status: _Optional[_Union[EstimateStatus, str]] = ...) -> None: ...

class Vitals(_message.Message):
    __slots__ = ("node_id", "ts_ns", "breathing", "heart_rate", "presence", "n_persons", "motion_energy", "signal_quality", "fall_detected", "motion", "presence_score", "subcarrier_count", "extra")
    class ExtraEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ExtraValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ExtraValue, _Mapping]] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TS_NS_FIELD_NUMBER: _ClassVar[int]
    BREATHING_FIELD_NUMBER: _ClassVar[int]
    HEART_RATE_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    N_PERSONS_FIELD_NUMBER: _ClassVar[int]
    MOTION_ENERGY_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_QUALITY_FIELD_NUMBER: _ClassVar[int]
    FALL_DETECTED_FIELD_NUMBER: _ClassVar[int]
    MOTION_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    SUBCARRIER_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    ts_ns: int
    breathing: VitalEstimate
    heart_rate: VitalEstimate
    presence: bool
    n_persons: int
    motion_energy: float
    signal_quality: float
    fall_detected: bool
    motion: bool
    presence_score: float
    subcarrier_count: int
    extra: _containers.MessageMap[str, ExtraValue]
    def __init__(self, node_id: _Optional[int] = ..., ts_ns: _Optional[int] = ..., breathing: _Optional[_Union[VitalEstimate, _Mapping]] = ..., heart_rate: _Optional[_Union[VitalEstimate, _Mapping]] = ..., presence: _Optional[bool] = ..., n_persons: _Optional[int] = ..., motion_energy: _Optional[float] = ..., signal_quality: _Optional[float] = ..., fall_detected: _Optional[bool] = ..., motion: _Optional[bool] = ..., presence_score: _Optional[float] = ..., subcarrier_count: _Optional[int] = ..., extra: _Optional[_Mapping[str, ExtraValue]] = ...) -> None: ...

class ExtraValue(_message.Message):
    __slots__ = ("number", "integer", "flag")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    number: float
    integer: int
    flag: bool
    def __init__(self, number: _Optional[float] = ..., integer: _Optional[int] = ..., flag: _Optional[bool] = ...) -> None: ...

class SyncComplete(_message.Message):
    __slots__ = ("nodes", "buffer_size", "heartbeat_ms", "revision")
    NODES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_SIZE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_MS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    nodes: int
    buffer_size: int
    heartbeat_ms: int
    revision: int
    def __init__(self, nodes: _Optional[int] = ..., buffer_size: _Optional[int] = ..., heartbeat_ms: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time_ns", "dropped_total")
    SERVER_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    server_time_ns: int
    dropped_total: int
    def __init__(self, server_time_ns: _Optional[int] = ..., dropped_total: _Optional[int] = ...) -> None: ...

class Overflow(_message.Message):
    __slots__ = ("dropped", "dropped_total")
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    dropped_total: int
    def __init__(self, dropped: _Optional[int] = ..., dropped_total: _Optional[int] = ...) -> None: ...

class GetLatestRequest(_message.Message):
    __slots__ = ("node_ids",)
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, node_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetLatestResponse(_message.Message):
    __slots__ = ("nodes", "server_time_ns", "revision")
    NODES_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeState]
    server_time_ns: int
    revision: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeState, _Mapping]]] = ..., server_time_ns: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class NodeState(_message.Message):
    __slots__ = ("node_id", "frame", "vitals")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    frame: CsiFrame
    vitals: Vitals
    def __init__(self, node_id: _Optional[int] = ..., frame: _Optional[_Union[CsiFrame, _Mapping]] = ..., vitals: _Optional[_Union[Vitals, _Mapping]] = ...) -> None: ...
