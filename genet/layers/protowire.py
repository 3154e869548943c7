"""A minimal reader of the protobuf wire format, enough for the NPU dump header (no protobuf package needed).

The format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of fields,
each a varint key ``field_number << 3 | wire_type`` then its value: wire type 0 a varint, 1 eight
bytes, 2 a varint length then that many bytes (a string, bytes, a sub-message or packed repeated
scalars), 5 four bytes. A *schema* here maps field numbers to ``(name, kind, repeated)``, ``kind``
being ``"uint"``, ``"int"`` (int32/int64: negative values are ten-byte two's complement), ``"string"``,
``"bytes"`` or a sub-schema. Unknown fields are skipped, as protobuf does, so that a newer writer's
extra fields do not stop the reader.
"""

from __future__ import annotations

from typing import Iterator, Union

Schema = dict[int, tuple[str, Union[str, "Schema"], bool]]

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """The bytes are not a well-formed message (truncated, or not protobuf at all)."""


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise WireError("varint longer than ten bytes")


def _take(data: bytes | memoryview, pos: int, size: int) -> tuple[memoryview, int]:
    if size < 0 or pos + size > len(data):
        raise WireError(f"field of {size} bytes runs past the end of the message")
    return memoryview(data)[pos:pos + size], pos + size


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of each field: an int, or the bytes of a length-delimited one."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == LENGTH:
            size, pos = read_varint(data, pos)
            value, pos = _take(data, pos, size)
        elif wire in (FIXED64, FIXED32):
            raw, pos = _take(data, pos, 8 if wire == FIXED64 else 4)
            value = int.from_bytes(raw, "little")
        else:
            raise WireError(f"wire type {wire} (groups are not used by this format)")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalars(wire: int, value: int | memoryview, kind: str) -> list[int]:
    """One varint, or a packed run of them."""
    if wire == VARINT:
        items = [value]
    elif wire == LENGTH:
        items, pos = [], 0
        while pos < len(value):
            item, pos = read_varint(value, pos)
            items.append(item)
    else:
        raise WireError(f"wire type {wire} for an integer field")
    return [_signed(v) for v in items] if kind == "int" else items


def _convert(wire: int, value, kind) -> list:
    if kind in ("uint", "int"):
        return _scalars(wire, value, kind)
    if wire != LENGTH:
        raise WireError(f"wire type {wire} for a length-delimited field")
    if kind == "string":
        try:
            return [bytes(value).decode("utf-8")]
        except UnicodeDecodeError:
            raise WireError("string field is not UTF-8") from None
    if kind == "bytes":
        return [value]
    return [parse(value, kind)]


def _default(kind, repeated: bool):
    if repeated:
        return []
    return {"uint": 0, "int": 0, "string": "", "bytes": b""}.get(kind) if isinstance(kind, str) else parse(b"", kind)


def parse(data: bytes | memoryview, schema: Schema) -> dict:
    """The message as a dict of its schema's fields (defaults for absent ones, lists for repeated ones)."""
    message = {name: _default(kind, repeated) for name, kind, repeated in schema.values()}
    for number, wire, value in fields(data):
        if number not in schema:
            continue
        name, kind, repeated = schema[number]
        values = _convert(wire, value, kind)
        if repeated:
            message[name].extend(values)
        else:
            message[name] = values[-1]
    return message
