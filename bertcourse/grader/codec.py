"""Plain data across the sandbox boundary: JSON plus ``.npz`` arrays, never pickle.

A frame is two length-prefixed byte strings: a JSON document and an ``.npz``
archive (read with ``allow_pickle=False``). Values are ``None``, ``bool``,
``int``, ``float``, ``str``, lists, tuples, dicts with ``str`` keys and
arrays; anything else, subclasses included (a ``str`` whose ``__eq__`` always
answers True), is refused by :func:`encode`. The trusted side only ever calls
:func:`decode`, so whatever the other side sends becomes plain data or an error.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

HEADER = struct.Struct("!QQ")
MAX_FRAME = 512 * 1024 * 1024


class CodecError(ValueError):
    """A value that is not plain data, or a damaged frame."""


def _to_plain(value, arrays: list):
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [_to_plain(v, arrays) for v in value]
    if kind is tuple:
        return {"__tuple__": [_to_plain(v, arrays) for v in value]}
    if kind is dict:
        if any(type(k) is not str for k in value):
            raise CodecError("dict keys must be str")
        return {"__dict__": {k: _to_plain(v, arrays) for k, v in value.items()}}
    if kind is np.ndarray:
        arrays.append(value)
        return {"__array__": len(arrays) - 1}
    module = getattr(kind, "__module__", "")
    if module.startswith("torch") and kind.__name__ in ("Tensor", "Parameter"):
        arrays.append(value.detach().cpu().numpy())
        return {"__array__": len(arrays) - 1, "torch": True}
    raise CodecError(f"not plain data: a {kind.__module__}.{kind.__qualname__}")


def _from_plain(value, arrays):
    if isinstance(value, list):
        return [_from_plain(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_from_plain(v, arrays) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _from_plain(v, arrays) for k, v in value["__dict__"].items()}
        if "__array__" in value:
            return arrays[f"a{int(value['__array__'])}"]
        raise CodecError(f"unknown object {sorted(value)}")
    return value


def encode(value) -> bytes:
    arrays: list = []
    document = json.dumps(_to_plain(value, arrays), allow_nan=True).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})
    blob = buffer.getvalue()
    return HEADER.pack(len(document), len(blob)) + document + blob


def decode(frame: bytes):
    if len(frame) < HEADER.size:
        raise CodecError("short frame")
    size_doc, size_blob = HEADER.unpack_from(frame)
    if HEADER.size + size_doc + size_blob != len(frame):
        raise CodecError("frame length mismatch")
    document = json.loads(frame[HEADER.size:HEADER.size + size_doc])
    with np.load(io.BytesIO(frame[HEADER.size + size_doc:]), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return _from_plain(document, arrays)


def write_frame(stream, value) -> None:
    data = encode(value)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def read_frame(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other side closed the channel")
    (size,) = struct.unpack("!Q", head)
    if size > MAX_FRAME:
        raise CodecError(f"frame of {size} bytes refused")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("truncated frame")
    return decode(data)
