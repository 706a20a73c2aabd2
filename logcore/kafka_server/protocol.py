"""Kafka's wire framing over kio's generated message classes.

A Kafka request is a size-prefixed frame: int32 length, then a request header
(``RequestHeader.json``: api key, api version, correlation id, client id, and tagged
fields from header v2 on) and the body of that API and version. The response is
int32 length, the response header (correlation id, tagged fields from v1 on) and
the body. See https://kafka.apache.org/protocol#protocol_messages.

kio (Aiven) generates one frozen dataclass per message and version from Kafka's own
JSON schemas, with a native reader and a writer. Handlers here speak one
version-independent language instead: :func:`build` makes the right version's class
from plain values (fields a version lacks are dropped, fields it has and the handler
did not give take Kafka's defaults), and readers use ``getattr(request, name,
default)``. That keeps one handler per API for every version this server lists.
"""

from __future__ import annotations

import datetime
import functools
import io
import struct
import typing
import uuid
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HEAD = struct.Struct(">hhi")  # api key, api version, correlation id

# API key of ApiVersions: its response header is always v0 (no tagged fields), so a
# client that does not know the broker's versions yet can read the answer
# (ApiVersionsResponse.json: "flexibleVersions" ... header v0 for compatibility).
API_VERSIONS = 18


class FrameError(ValueError):
    """A request this server cannot even parse: the connection is closed."""


class RequestHeader(typing.NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the body starts in the frame


def read_header(frame: bytes | memoryview, flexible: bool | None) -> RequestHeader:
    """Parse the request header; ``flexible`` None when the API is unknown (header v1 read).

    Header v1 is api_key, api_version, correlation_id, client_id (nullable string,
    int16 length); v2 adds tagged fields. client_id stays a legacy string in v2 too
    (RequestHeader.json: "flexibleVersions": "none" for ClientId).
    """
    if len(frame) < 10:
        raise FrameError(f"a request header needs at least 10 bytes; the frame has {len(frame)}")
    api_key, api_version, correlation_id = _HEAD.unpack_from(frame, 0)
    (n,) = _I16.unpack_from(frame, 8)
    pos = 10
    client_id: str | None = None
    if n >= 0:
        if pos + n > len(frame):
            raise FrameError("the request header's client id runs past the end of the frame")
        try:
            client_id = bytes(frame[pos : pos + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("the request header's client id is not UTF-8") from None
        pos += n
    elif n != -1:
        raise FrameError(f"the request header's client id has length {n}")
    if flexible:
        pos = skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def _uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        if pos >= len(buf):
            raise FrameError("a varint runs past the end of the frame")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise FrameError("a varint is longer than 5 bytes")


def skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    count, pos = _uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = _uvarint(buf, pos)
        size, pos = _uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise FrameError("a tagged field runs past the end of the frame")
    return pos


@functools.cache
def request_class(api_key: int, version: int) -> Any:
    return load_request_schema(api_key, version)


@functools.cache
def response_class(api_key: int, version: int) -> Any:
    return load_response_schema(api_key, version)


@functools.cache
def _reader(cls: Any) -> Any:
    return entity_reader(cls)


@functools.cache
def _writer(cls: Any) -> Any:
    return entity_writer(cls)


def is_flexible(api_key: int, version: int) -> bool:
    return bool(request_class(api_key, version).__flexible__)


def read_body(api_key: int, version: int, frame: bytes | memoryview, offset: int) -> Any:
    """The request body as kio's dataclass; any failure is a :class:`FrameError`."""
    cls = request_class(api_key, version)
    try:
        body, _size = _reader(cls)(frame, offset)
    except Exception as e:  # the native reader raises many kinds on bad input
        raise FrameError(f"cannot read {cls.__name__} v{version}: {e}") from None
    return body


def encode_response(api_key: int, version: int, correlation_id: int, body: Any) -> bytes:
    """Size prefix, response header (v1 with tagged fields for flexible versions), body."""
    out = io.BytesIO()
    out.write(b"\0\0\0\0")
    out.write(_I32.pack(correlation_id))
    if api_key != API_VERSIONS and response_class(api_key, version).__flexible__:
        out.write(b"\0")  # no tagged fields in the response header
    writer: Any = type(body)
    _writer(writer)(out, body)
    data = out.getbuffer()
    _I32.pack_into(data, 0, len(data) - 4)
    return bytes(data)


# --- building responses from plain values ------------------------------------------


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _entity_of(hint: Any) -> tuple[Any, bool]:
    """(nested dataclass, is_sequence) for a field hint, or (None, False)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple and args and is_dataclass(args[0]):
        return args[0], True
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for a in args:
            if is_dataclass(a):
                return a, False
            sub, seq = _entity_of(a)
            if sub is not None:
                return sub, seq
    if is_dataclass(hint):
        return hint, False
    return None, False


_ZERO_UUID = uuid.UUID(int=0)


def _default(kafka_type: str, optional: bool) -> Any:
    if optional:
        return None
    if kafka_type in ("string",):
        return ""
    if kafka_type in ("bytes", "records"):
        return b""
    if kafka_type == "bool":
        return False
    if kafka_type == "uuid":
        return _ZERO_UUID
    if kafka_type == "error_code":
        return ErrorCode.none
    if kafka_type.startswith("timedelta"):
        return datetime.timedelta(0)
    return 0


def _convert(kafka_type: str, value: Any) -> Any:
    if value is None:
        return None
    if kafka_type == "error_code" and not isinstance(value, ErrorCode):
        return ErrorCode(int(value))
    if kafka_type.startswith("timedelta") and isinstance(value, int):
        return datetime.timedelta(milliseconds=value)
    if kafka_type == "datetime_i64" and isinstance(value, int):
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
    return value


def build(cls: Any, values: Mapping[str, Any]) -> Any:
    """An instance of kio's ``cls`` from ``values``: nested dicts and lists become entities.

    Values for fields ``cls`` lacks are ignored (an older version has fewer fields);
    fields not given take the schema's default, or Kafka's zero value for the type.
    """
    hints = _hints(typing.cast(typing.Hashable, cls))
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        name = f.name
        kafka_type = f.metadata.get("kafka_type", "")
        hint = hints.get(name)
        if name in values:
            value = values[name]
            sub, seq = _entity_of(hint)
            if sub is not None and value is not None:
                if seq:
                    value = tuple(v if is_dataclass(v) else build(sub, v) for v in value)
                elif not is_dataclass(value):
                    value = build(sub, value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = _convert(kafka_type, value)
        elif f.default is MISSING and f.default_factory is MISSING:
            sub, seq = _entity_of(hint)
            optional = type(None) in typing.get_args(hint)
            if seq:
                kwargs[name] = None if optional else ()
            elif sub is not None:
                kwargs[name] = None if optional else build(sub, {})
            else:
                kwargs[name] = _default(kafka_type, optional)
    return cls(**kwargs)


def ms(value: Any) -> int:
    """A kio timedelta (or int) field as integer milliseconds."""
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(milliseconds=1)
    return int(value)
