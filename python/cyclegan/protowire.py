"""The top-level fields of a protobuf message, read straight from its bytes.

Why not `onnx.load`: importing the onnx package costs 0.6-0.7 s on the 2-core VM (its
ml_dtypes extension alone about 0.6 s), more than cyclegan-infer needs for a whole
12-megapixel photo, and inference only needs two things from a generator file beside the
one it runs: its metadata (ModelProto field 14) and the bytes of its graph (field 7). The
protobuf wire format (protobuf.dev, "Encoding"): each field is a varint key
(field number << 3 | wire type) and a value: a varint (type 0), 8 bytes (1), a varint
length and that many bytes (2), or 4 bytes (5). Types 3 and 4 (groups) are not used by ONNX.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a protobuf message (a truncated or foreign file)."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def fields(data: bytes | memoryview) -> Iterator[tuple[int, memoryview | int]]:
    """(field number, value) for each top-level field in file order: a length-delimited
    value as a view of its bytes (no copy), a varint as an int, fixed-size ones as views."""
    buf = memoryview(data)
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, i = _varint(buf, i)
            yield number, value
            continue
        if wire == LEN:
            size, i = _varint(buf, i)
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
        else:
            raise WireError(f"unsupported wire type {wire} (field {number})")
        if i + size > len(buf):
            raise WireError(f"field {number} runs past the end of the message")
        yield number, buf[i:i + size]
        i += size


def strings(data: bytes | memoryview, number: int) -> list[str]:
    """Every occurrence of string field `number` in a message, decoded as UTF-8."""
    return [bytes(v).decode("utf-8") for n, v in fields(data)
            if n == number and isinstance(v, memoryview)]
