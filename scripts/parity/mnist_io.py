"""Reads the official MNIST / Fashion-MNIST idx files for the interchange scripts.

Layout (the one cnntrain uses): DATA/<dataset>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
Normalization is torchvision's float32 arithmetic, ToTensor then Normalize:
(x/255 - mean) / std, which is also what cnntrain does.
"""
import gzip
import os
import struct

import numpy as np
import torch

# Default normalization per dataset (the notebooks' values; cnntrain's table).
DEFAULT_NORMALIZE = {"mnist": ([0.1307], [0.3081]), "fashion-mnist": ([0.2860], [0.3530])}


def read_idx(path, want_dims):
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an idx file")
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or dims != want_dims:
        raise ValueError(f"{path}: not an idx file of unsigned bytes with {want_dims} dimensions "
                         f"(magic {data[:4].hex()})")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    n = int(np.prod(shape))
    body = data[4 + 4 * dims:]
    if len(body) != n:
        raise ValueError(f"{path}: header says {shape} = {n} bytes of data, file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def find(folder, dataset, name):
    for cand in (name + ".gz", name):
        p = os.path.join(folder, dataset, cand)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{os.path.join(folder, dataset, name)}[.gz] not found "
                            f"(want DATA/{dataset}/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz)")


def load(folder, split, dataset="mnist", mean=None, std=None):
    """Returns (images N x 1 x 28 x 28 float32 normalized, labels N int64) of split "train" or "test"."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find(folder, dataset, f"{prefix}-images-idx3-ubyte"), 3)
    labels = read_idx(find(folder, dataset, f"{prefix}-labels-idx1-ubyte"), 1)
    if len(images) != len(labels):
        raise ValueError(f"{dataset} {split}: {len(images)} images but {len(labels)} labels")
    dm, ds = DEFAULT_NORMALIZE.get(dataset, DEFAULT_NORMALIZE["mnist"])
    mean = torch.tensor(dm if mean is None else mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(ds if std is None else std, dtype=torch.float32).view(-1, 1, 1)
    x = torch.from_numpy(images.copy()).to(torch.float32).unsqueeze(1) / 255  # ToTensor
    x = (x - mean) / std  # Normalize
    return x, torch.from_numpy(labels.astype(np.int64))
