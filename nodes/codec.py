"""The lossless msgpack codec of items: what crosses an MQTT edge between two pipelines.

An item is a string-keyed map: ``"@type"`` (the class name), ``"@v"`` (its format version)
and every field of the dataclass by name. Field values are msgpack's own types (None, bool,
int, float64, str, arrays, maps); a nested item is a nested map; a numpy array is one
extension (``EXT_ARRAY``: dtype, shape, the raw little-endian bytes) and a numpy scalar another
(``EXT_SCALAR``), so a round trip gives back the same types and the same bits, NaN payloads
included. Never pickle: only the dtypes of ``DTYPES`` are read (no object arrays).

**Registration, derived.** Every public dataclass of ``posecog.nodes.items`` is registered
when this module loads (so a new item type there has a codec without anyone writing one);
an item type defined elsewhere registers with ``@codec_item``. The decoder of a type is
derived from its fields' annotations at registration (an annotation the codec cannot check
is refused then, not at run time).

**Decoding is checked.** ``decode`` either gives an item whose every field has its annotated
type (nested items too, arrays of the annotated dtype) or raises ``Rejected(reason, detail)``:
``too_large``, ``bad_msgpack`` (not msgpack, trailing bytes, nested too deep), ``not_an_item``,
``unknown_type``, ``bad_version``, ``missing_field``, ``unknown_field``, ``bad_field``,
``bad_array`` (a dtype outside the list, a shape that does not match the bytes). Nothing a
peer sends can run code or allocate more than the payload's size.

**Versions.** A type's format version is ``CODEC_VERSION`` of the class (1 when absent). A
decoder reads its own version only, and a field it does not know is refused rather than
dropped: an edge is lossless or says why not. A field added with a default is read from an
older producer (the default); anything else that changes fields bumps the version.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack
import numpy as np

from . import items as _items
from .rejection import Rejected

__all__ = [
    "CODEC",
    "DTYPES",
    "EXT_ARRAY",
    "EXT_SCALAR",
    "MAX_PAYLOAD",
    "Codec",
    "codec_item",
]

#: msgpack extension codes.
EXT_ARRAY = 1
EXT_SCALAR = 2
#: The dtypes an array may have (numpy's ``dtype.str``, little-endian): no object, string or
#: structured dtype is ever read.
DTYPES = frozenset(
    ["|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"]
    + ["<c8", "<c16"]
)
#: Largest payload decoded (bytes): a CsiWindow of 20 x 192 float32 is 15 kB.
MAX_PAYLOAD = 16 << 20
MAX_NDIM = 8
#: Longest array, map or string in a payload (elements).
MAX_LEN = 1 << 16

_HEAD = struct.Struct("<BB")  # dtype string length, ndim
_DIM = struct.Struct("<I")

C = TypeVar("C", bound=type)
Check = Callable[[Any], Any]


class _Bad(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail


# -- arrays ------------------------------------------------------------------------------------


def _pack_array(value: np.ndarray[Any, Any] | np.generic) -> bytes:
    arr = np.asarray(value)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    code = arr.dtype.str
    if code not in DTYPES:
        raise TypeError(f"dtype {arr.dtype} cannot cross an edge (allowed: {sorted(DTYPES)})")
    head = (
        _HEAD.pack(len(code), arr.ndim) + code.encode() + b"".join(_DIM.pack(n) for n in arr.shape)
    )
    return head + np.ascontiguousarray(arr).tobytes()


def _unpack_array(data: bytes) -> np.ndarray[Any, Any]:
    """The read-only array of an ``EXT_ARRAY`` payload (a view of it), checked."""
    if len(data) < _HEAD.size:
        raise _Bad("bad_array", "array header cut short")
    n_code, ndim = _HEAD.unpack_from(data)
    if ndim > MAX_NDIM:
        raise _Bad("bad_array", f"{ndim} dimensions (at most {MAX_NDIM})")
    start = _HEAD.size + n_code + ndim * _DIM.size
    if len(data) < start:
        raise _Bad("bad_array", "array header cut short")
    code = data[_HEAD.size : _HEAD.size + n_code].decode("ascii", "replace")
    if code not in DTYPES:
        raise _Bad("bad_array", f"dtype {code!r} is not read")
    shape = tuple(
        _DIM.unpack_from(data, _HEAD.size + n_code + i * _DIM.size)[0] for i in range(ndim)
    )
    dtype = np.dtype(code)
    count = 1
    for n in shape:
        count *= n  # Python ints: no overflow
    if count * dtype.itemsize != len(data) - start:
        need, got = count * dtype.itemsize, len(data) - start
        raise _Bad("bad_array", f"shape {shape} of {code} needs {need} bytes; got {got}")
    return np.frombuffer(data, dtype, count, start).reshape(shape)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_ARRAY:
        return _unpack_array(data)
    if code == EXT_SCALAR:
        arr = _unpack_array(data)
        if arr.ndim != 0:
            raise _Bad("bad_array", f"a scalar of shape {arr.shape}")
        return arr[()]
    raise _Bad("bad_msgpack", f"unknown extension type {code}")


# -- checks derived from annotations ------------------------------------------------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def _scalar_check(kind: type) -> Check:
    if kind is bool:

        def check_bool(v: Any) -> Any:
            if type(v) is bool or isinstance(v, np.bool_):
                return v
            raise _Bad("bad_field", f"must be a bool; got {_type_name(v)}")

        return check_bool
    if kind is int:

        def check_int(v: Any) -> Any:
            if type(v) is int or isinstance(v, np.integer):
                return v
            raise _Bad("bad_field", f"must be an int; got {_type_name(v)}")

        return check_int
    if kind is float:

        def check_float(v: Any) -> Any:  # an int is a valid float (PEP 484), kept as it is
            if type(v) in (float, int) or isinstance(v, np.floating | np.integer):
                return v
            raise _Bad("bad_field", f"must be a number; got {_type_name(v)}")

        return check_float
    if kind is str:

        def check_str(v: Any) -> Any:
            if type(v) is str:
                return v
            raise _Bad("bad_field", f"must be a string; got {_type_name(v)}")

        return check_str
    if kind is type(None):

        def check_none(v: Any) -> Any:
            if v is None:
                return v
            raise _Bad("bad_field", f"must be null; got {_type_name(v)}")

        return check_none
    raise TypeError(f"the codec cannot check values of {kind!r}")


def _array_check(hint: Any) -> Check:
    dtype_args = typing.get_args(typing.get_args(hint)[1]) if typing.get_args(hint) else ()
    want = np.dtype(dtype_args[0]) if dtype_args and isinstance(dtype_args[0], type) else None

    def check_array(v: Any) -> Any:
        if not isinstance(v, np.ndarray):
            raise _Bad("bad_field", f"must be an array; got {_type_name(v)}")
        if want is not None and v.dtype != want:
            raise _Bad("bad_field", f"must be an array of {want}; got {v.dtype}")
        return v

    return check_array


class Codec:
    """Item types by name, with the encoder and the checked decoder of each."""

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, tuple[str, int]] = {}
        self._decoders: dict[str, Callable[[dict[str, Any]], Any]] = {}

    @property
    def types(self) -> tuple[type, ...]:
        """The registered item types, in registration order."""
        return tuple(self._by_name.values())

    def topic_name(self, item_type: type) -> str:
        """``CsiFrame`` -> ``csi_frame``: the ``{type}`` of a topic template."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", item_type.__name__).lower()

    def register(self, cls: C) -> C:
        """Register a dataclass item type (its name must be new)."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        name = cls.__name__
        if name in self._by_name and self._by_name[name] is not cls:
            raise ValueError(f"item type {name!r} is registered twice")
        version = int(getattr(cls, "CODEC_VERSION", 1))
        decoder = self._derive(cls, name, version)  # refuses what it cannot check, first
        self._by_name[name] = cls
        self._by_class[cls] = (name, version)
        self._decoders[name] = decoder
        return cls

    # -- encoding --

    def encode(self, item: Any) -> bytes:
        """The msgpack bytes of a registered item. ``TypeError`` for what cannot be encoded (an
        unregistered type, a dtype outside ``DTYPES``, a non-string map key)."""
        if type(item) not in self._by_class:
            raise TypeError(f"{type(item).__name__} is not a registered item type")
        packed: bytes = msgpack.packb(self._tree(item), use_bin_type=True, strict_types=True)
        return packed

    def _tree(self, value: Any) -> Any:
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes):
            return value
        if kind is tuple or kind is list:
            return [self._tree(v) for v in value]
        if kind is dict:
            for key in value:
                if type(key) is not str:
                    raise TypeError(f"map keys must be strings; got {type(key).__name__}")
            return {k: self._tree(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return msgpack.ExtType(EXT_ARRAY, _pack_array(value))
        if isinstance(value, np.generic):
            return msgpack.ExtType(EXT_SCALAR, _pack_array(value))
        entry = self._by_class.get(kind)
        if entry is None:
            raise TypeError(f"cannot encode a {kind.__name__}")
        tree: dict[str, Any] = {"@type": entry[0], "@v": entry[1]}
        for f in dataclasses.fields(value):
            tree[f.name] = self._tree(getattr(value, f.name))
        return tree

    # -- decoding --

    def decode(self, data: bytes | bytearray) -> Any:
        """The item of a payload, or ``Rejected`` saying why there is none."""
        if len(data) > MAX_PAYLOAD:
            raise Rejected("too_large", f"{len(data)} bytes (at most {MAX_PAYLOAD})")
        try:
            tree = msgpack.unpackb(
                data,
                raw=False,
                use_list=False,
                strict_map_key=True,
                ext_hook=_ext_hook,
                max_str_len=MAX_LEN,
                max_bin_len=MAX_PAYLOAD,
                max_array_len=MAX_LEN,
                max_map_len=MAX_LEN,
                max_ext_len=MAX_PAYLOAD,
            )
        except _Bad as bad:
            raise Rejected(bad.reason, bad.detail) from None
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise Rejected("bad_msgpack", f"{type(exc).__name__}: {exc}"[:200]) from None
        try:
            return self._item(tree, None, "")
        except _Bad as bad:
            raise Rejected(bad.reason, bad.detail) from None

    def _item(self, tree: Any, expected: type | None, where: str) -> Any:
        if not isinstance(tree, dict) or "@type" not in tree:
            raise _Bad("not_an_item", f"{where or 'payload'}: not an item map")
        name = tree["@type"]
        decoder = self._decoders.get(name) if isinstance(name, str) else None
        if decoder is None:
            raise _Bad("unknown_type", f"{where or 'payload'}: item type {name!r}")
        if expected is not None and not issubclass(self._by_name[name], expected):
            raise _Bad("bad_field", f"{where}: must be a {expected.__name__}; got {name}")
        return decoder(tree)

    def _derive(self, cls: type, name: str, version: int) -> Callable[[dict[str, Any]], Any]:
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.init]
        checks = {f.name: self._check(hints[f.name], f"{name}.{f.name}") for f in fields}
        required = {
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }

        def decode(tree: dict[str, Any]) -> Any:
            v = tree.get("@v")
            if v != version:
                raise _Bad("bad_version", f"{name} format {v!r}; this build reads {version}")
            values: dict[str, Any] = {}
            for key, raw in tree.items():
                if key in ("@type", "@v"):
                    continue
                check = checks.get(key)
                if check is None:
                    raise _Bad("unknown_field", f"{name} has no field {key!r}")
                try:
                    values[key] = check(raw)
                except _Bad as bad:
                    if bad.reason == "bad_field" and not bad.detail.startswith(name):
                        raise _Bad(bad.reason, f"{name}.{key}: {bad.detail}") from None
                    raise
            missing = required - values.keys()
            if missing:
                raise _Bad("missing_field", f"{name} needs {sorted(missing)}")
            try:
                return cls(**values)
            except (TypeError, ValueError) as exc:
                raise _Bad("bad_field", f"{name}: {exc}") from None

        return decode

    def _check(self, hint: Any, where: str) -> Check:
        """The check of one annotation (refused here when the codec cannot check it)."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if hint is np.ndarray or origin is np.ndarray:
            return _array_check(hint)
        if origin in (types.UnionType, typing.Union):
            arms = [self._check(a, where) for a in args]

            def check_union(v: Any) -> Any:
                last: _Bad | None = None
                for arm in arms:
                    try:
                        return arm(v)
                    except _Bad as bad:
                        last = bad
                assert last is not None
                raise last

            return check_union
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                each = self._check(args[0], where)

                def check_tuple_of(v: Any) -> Any:
                    if not isinstance(v, tuple):
                        raise _Bad("bad_field", f"must be a sequence; got {_type_name(v)}")
                    return tuple(each(x) for x in v)

                return check_tuple_of
            parts = [self._check(a, where) for a in args]

            def check_pair(v: Any) -> Any:
                if not isinstance(v, tuple) or len(v) != len(parts):
                    raise _Bad("bad_field", f"must be a sequence of {len(parts)}")
                return tuple(p(x) for p, x in zip(parts, v, strict=True))

            return check_pair
        if origin is list:
            each_item = self._check(args[0], where)

            def check_list(v: Any) -> Any:
                if not isinstance(v, tuple):
                    raise _Bad("bad_field", f"must be a sequence; got {_type_name(v)}")
                return [each_item(x) for x in v]

            return check_list
        if origin is dict:
            key_check, value_check = (self._check(a, where) for a in args)

            def check_dict(v: Any) -> Any:
                if not isinstance(v, dict):
                    raise _Bad("bad_field", f"must be a map; got {_type_name(v)}")
                return {key_check(k): value_check(x) for k, x in v.items()}

            return check_dict
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if hint not in self._by_class:
                raise TypeError(f"{where}: {hint.__name__} is not a registered item type")

            def check_item(v: Any) -> Any:
                return self._item(v, hint, where)

            return check_item
        if isinstance(hint, type):
            return _scalar_check(hint)
        raise TypeError(f"{where}: the codec cannot check values of {hint!r}")


#: The process's codec: every item type of ``posecog.nodes.items``, and those registered with
#: ``@codec_item``.
CODEC = Codec()


def codec_item(cls: C) -> C:
    """Register an item type defined outside ``posecog.nodes.items`` with ``CODEC``."""
    return CODEC.register(cls)


def _register_items() -> None:
    """Every public dataclass of the items module, nested ones before the items holding them
    (a field's type must be registered before the type that holds it)."""
    pending = [
        obj
        for name in _items.__all__
        if isinstance(obj := getattr(_items, name), type) and dataclasses.is_dataclass(obj)
    ]
    while pending:
        progress = False
        for cls in list(pending):
            try:
                CODEC.register(cls)
            except TypeError as exc:
                if "is not a registered item type" not in str(exc):
                    raise
                continue
            pending.remove(cls)
            progress = True
        if not progress:  # a field of a type nobody registers: say which
            CODEC.register(pending[0])


_register_items()
