"""A small, dependency-free safetensors reader and writer for the parity scripts.

Debian's python3-torch comes without the `safetensors` package, so this module
implements the format directly:

  1. an unsigned 64-bit little-endian integer N, the length of the header;
  2. N bytes of UTF-8 JSON: {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
     plus an optional "__metadata__" object of string values;
  3. the data buffer: little-endian, C-order tensor data; offsets are relative
     to its start, end exclusive, and the tensors cover it without gaps.

The writer pads the header with spaces so the data buffer starts at a multiple
of 8 bytes, lays 8-byte tensors (I64, F64) out before 4-byte ones (F32, I32),
then 2- and 1-byte ones, so that every tensor is aligned to its element size,
sorts names within each group and writes the header with sorted keys: the same
tensors always give the same bytes.

    from safetensors_io import save_file, load_file
    save_file({"w": torch.ones(2, 3)}, "x.safetensors", metadata={"format": "pt"})
    tensors, metadata = load_file("x.safetensors")   # dict of torch tensors, dict of str
"""
import json
import struct
import sys

import numpy as np
import torch

METADATA_KEY = "__metadata__"
MAX_HEADER = 100 * 1024 * 1024

# safetensors dtype -> (numpy little-endian dtype, torch dtype). BF16 has no
# numpy dtype; it is read through uint16 and widened to float32 bits.
_DTYPES = {
    "F64": (np.dtype("<f8"), torch.float64),
    "F32": (np.dtype("<f4"), torch.float32),
    "F16": (np.dtype("<f2"), torch.float16),
    "BF16": (np.dtype("<u2"), torch.bfloat16),
    "I64": (np.dtype("<i8"), torch.int64),
    "I32": (np.dtype("<i4"), torch.int32),
    "I16": (np.dtype("<i2"), torch.int16),
    "I8": (np.dtype("i1"), torch.int8),
    "U8": (np.dtype("u1"), torch.uint8),
    "BOOL": (np.dtype("?"), torch.bool),
}
_FROM_TORCH = {t: name for name, (_, t) in _DTYPES.items()}


class SafetensorsError(ValueError):
    """A file that does not follow the safetensors format."""


def _as_numpy(name, value):
    """Returns (safetensors dtype, C-contiguous little-endian numpy array)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dtype not in _FROM_TORCH:
            raise TypeError(f"tensor {name!r}: unsupported dtype {t.dtype}")
        dtype = _FROM_TORCH[t.dtype]
        if dtype == "BF16":
            arr = t.view(torch.int16).numpy().view(np.uint16)
        else:
            arr = t.numpy()
    else:
        arr = np.asarray(value)
        for dtype, (npd, _) in _DTYPES.items():
            if dtype != "BF16" and arr.dtype.newbyteorder("<") == npd.newbyteorder("<") and arr.dtype.kind == npd.kind:
                break
        else:
            raise TypeError(f"tensor {name!r}: unsupported dtype {arr.dtype}")
    npd = _DTYPES[dtype][0]
    # np.ascontiguousarray would turn a scalar (shape []) into shape [1].
    arr = np.array(arr, dtype=npd, order="C", copy=False)
    assert arr.flags.c_contiguous
    return dtype, arr


def encode(tensors, metadata=None):
    """Returns the bytes of a safetensors file holding tensors (a dict name -> torch
    tensor or numpy array) and metadata (a dict of str -> str, or None)."""
    if METADATA_KEY in tensors:
        raise ValueError(f"no tensor may be called {METADATA_KEY!r}")
    entries = []
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"bad tensor name {name!r}")
        dtype, arr = _as_numpy(name, value)
        entries.append((-arr.dtype.itemsize, name, dtype, arr))
    entries.sort(key=lambda e: (e[0], e[1]))  # widest elements first, then by name

    header, chunks, offset = {}, [], 0
    for _, name, dtype, arr in entries:
        data = arr.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must map str to str, got {k!r}: {v!r}")
        header[METADATA_KEY] = dict(metadata)
    # Sorted top-level keys (and metadata keys); each entry as dtype, shape,
    # data_offsets. That is byte for byte what cnntrain's Go writer produces.
    dump = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = "{" + ",".join(
        dump(k) + ":" + (dump(v) if k == METADATA_KEY else
                         "{" + ",".join(dump(f) + ":" + dump(v[f]) for f in ("dtype", "shape", "data_offsets")) + "}")
        for k, v in sorted(header.items())) + "}"
    text = text.encode("utf-8")
    text += b" " * (-len(text) % 8)  # 8 + N is then a multiple of 8
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save_file(tensors, path, metadata=None):
    """Writes tensors (and metadata) to path as safetensors."""
    data = encode(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)


def decode(data, path="<bytes>"):
    """Parses safetensors bytes; returns (dict name -> torch tensor, metadata dict).
    Validation is strict: bad offsets, gaps, overlaps or trailing bytes are errors."""
    def bad(msg):
        raise SafetensorsError(f"{path}: {msg}")

    if len(data) < 8:
        bad(f"file is {len(data)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        bad(f"header length {n} does not fit in a file of {len(data)} bytes")
    try:
        pairs = json.loads(data[8 : 8 + n].decode("utf-8"), object_pairs_hook=list)
    except (UnicodeDecodeError, ValueError) as e:
        bad(f"header is not valid UTF-8 JSON: {e}")
    if not isinstance(pairs, list):
        bad("header is not a JSON object")
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        bad("header has duplicate keys")
    buf = memoryview(data)[8 + n :]

    metadata, infos = {}, []
    for name, info in pairs:
        if name == METADATA_KEY:
            meta = dict(info) if isinstance(info, list) else None
            if meta is None or not all(isinstance(v, str) for v in meta.values()):
                bad(f"{METADATA_KEY} must be an object of strings")
            metadata = meta
            continue
        info = dict(info) if isinstance(info, list) else None
        if info is None or set(info) != {"dtype", "shape", "data_offsets"}:
            bad(f"tensor {name!r}: want exactly dtype, shape and data_offsets")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPES:
            bad(f"tensor {name!r}: unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            bad(f"tensor {name!r}: bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            bad(f"tensor {name!r}: bad data_offsets {offs!r}")
        want = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype][0].itemsize
        if offs[1] - offs[0] != want:
            bad(f"tensor {name!r}: data_offsets {offs} hold {offs[1] - offs[0]} bytes, shape {shape} {dtype} needs {want}")
        infos.append((offs[0], offs[1], name, dtype, shape))

    infos.sort()
    pos = 0
    for begin, end, name, _, _ in infos:
        if begin != pos:
            bad(f"tensor {name!r} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(buf):
        bad(f"tensors cover {pos} bytes of a {len(buf)}-byte data buffer")

    tensors = {}
    for begin, end, name, dtype, shape in infos:
        npd, tdt = _DTYPES[dtype]
        arr = np.frombuffer(buf[begin:end], dtype=npd).reshape(shape)
        if dtype == "BF16":
            t = torch.from_numpy(arr.astype(np.int16)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(arr.astype(npd.newbyteorder("="), copy=True))
        tensors[name] = t.clone() if dtype == "BF16" else t
    return tensors, metadata


def load_file(path):
    """Reads a safetensors file; returns (dict name -> torch tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    return decode(data, path)


if __name__ == "__main__":
    # Prints a file's metadata and tensors: python3 safetensors_io.py FILE...
    for p in sys.argv[1:]:
        ts, meta = load_file(p)
        print(p)
        for k, v in sorted(meta.items()):
            print(f"  meta {k} = {v}")
        for k, t in sorted(ts.items()):
            print(f"  {k:40s} {_FROM_TORCH[t.dtype]:4s} {list(t.shape)}")
