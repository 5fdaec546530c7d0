"""Read a TensorFlow.js weights manifest and its binary shards into float32 numpy arrays."""

import json
from pathlib import Path

import numpy as np

from kiosk.errors import ModelError

_BYTES_PER_DTYPE = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4, "int32": 4}


def load_tfjs_weights(manifest_path: Path) -> dict[str, np.ndarray]:
    """Dequantise every tensor listed in a tfjs weights manifest (value = q * scale + min)."""
    groups = json.loads(Path(manifest_path).read_text())
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        blob = b"".join((Path(manifest_path).parent / shard).read_bytes() for shard in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = spec["shape"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored_dtype = quant["dtype"] if quant else spec["dtype"]
            if stored_dtype not in _BYTES_PER_DTYPE:
                raise ModelError(f"{manifest_path}: tensor {spec['name']} has unsupported dtype {stored_dtype}")
            size = count * _BYTES_PER_DTYPE[stored_dtype]
            if offset + size > len(blob):
                raise ModelError(
                    f"{manifest_path}: weights file ends at byte {len(blob)}, "
                    f"tensor {spec['name']} needs bytes {offset}..{offset + size}"
                )
            raw = np.frombuffer(blob, dtype=stored_dtype, count=count, offset=offset)
            offset += size
            if quant and stored_dtype == "float16":
                values = raw.astype(np.float32)
            elif quant:
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            else:
                values = raw.astype(np.float32)
            tensors[spec["name"]] = values.reshape(shape)
        if offset != len(blob):
            raise ModelError(f"{manifest_path}: {len(blob) - offset} bytes left over after the last tensor")
    return tensors
