"""Reading .safetensors files into torch tensors, for the bench's PyTorch peers."""
import json
import struct

import numpy as np
import torch


def read_safetensors(path, with_meta=False):
    """{name: tensor} from a .safetensors file (F32/F16/BF16 as f32; I64, I32, U8)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw, dt, shape = data[begin:end], info["dtype"], info["shape"]
        if dt == "F32":
            a = raw.view("<f4")
        elif dt == "F16":
            a = raw.view("<f2").astype(np.float32)
        elif dt == "BF16":
            a = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "I64":
            a = raw.view("<i8")
        elif dt == "I32":
            a = raw.view("<i4").astype(np.int64)
        elif dt == "U8":
            a = raw
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        out[name] = torch.from_numpy(np.array(a).reshape(shape))
    return (out, header.get("__metadata__", {})) if with_meta else out
