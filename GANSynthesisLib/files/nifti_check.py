"""What a NIfTI file really stores, seen before SimpleITK reads it: SimpleITK reads a truncated ``.nii.gz`` as
zeros and turns NaN and infinity into 0, so the stored voxel bytes are checked here first."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..core.errors import GANSynthesisError

_CHUNK = 1 << 22
_FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of the floating types that can hold NaN or infinity


def _header_layout(header: bytes) -> tuple[str, int, int, list[int], int]:
    """(byte order, datatype, bitpix, dims, vox_offset) of a NIfTI-1 or NIfTI-2 header."""
    for order in "<>":
        size = int(np.frombuffer(header[:4], f"{order}i4")[0]) if len(header) >= 4 else 0
        if size == 348 and len(header) >= 348:
            dims = np.frombuffer(header[40:56], f"{order}i2").astype(int)
            datatype, bitpix = (int(v) for v in np.frombuffer(header[70:74], f"{order}i2"))
            offset = int(np.frombuffer(header[108:112], f"{order}f4")[0])
            return order, datatype, bitpix, list(dims), max(offset, 352)
        if size == 540 and len(header) >= 540:
            datatype, bitpix = (int(v) for v in np.frombuffer(header[12:16], f"{order}i2"))
            dims = np.frombuffer(header[16:80], f"{order}i8").astype(int)
            offset = int(np.frombuffer(header[168:176], f"{order}i8")[0])
            return order, datatype, bitpix, list(dims), max(offset, 544)
    raise GANSynthesisError("it has no valid NIfTI-1 or NIfTI-2 header")


def check_nifti_values(path: Path) -> None:
    """Refuse a NIfTI file (.nii or .nii.gz) whose voxel data ends early or holds NaN or infinity."""
    with open(path, "rb") as stream:
        compressed = stream.read(2) == b"\x1f\x8b"  # by content: a plain .nii named .nii.gz is read as it is
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            header = stream.read(540)
            try:
                order, datatype, bitpix, dims, offset = _header_layout(header)
            except GANSynthesisError:
                return  # not NIfTI at all: SimpleITK's reader gives the error
            rank = dims[0] if 1 <= dims[0] <= 7 else 0
            expected = int(np.prod([max(d, 1) for d in dims[1:rank + 1]], dtype=np.int64)) * max(bitpix, 8) // 8
            stream.read(max(offset - len(header), 0))
            leftover = header[offset:]
            kind = _FLOAT_TYPES.get(datatype)
            item = bitpix // 8 if kind else 1
            received, non_finite = 0, 0
            while received < expected:
                block = leftover + stream.read(min(_CHUNK, expected - received))
                if len(block) == len(leftover):
                    break
                leftover = b""
                usable = len(block) - len(block) % item
                block, leftover = block[:usable], block[usable:]
                if kind:
                    non_finite += int(np.count_nonzero(~np.isfinite(np.frombuffer(block, order + kind))))
                received += usable
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise GANSynthesisError(f"{path} is damaged: its compressed data ends early or is corrupt ({error}). "
                                "Copy or export the file again.") from error
    if received < expected:
        raise GANSynthesisError(f"{path} is truncated: its header announces {expected} bytes of voxel data but the "
                                f"file holds {received}. Copy or export the file again.")
    if non_finite:
        raise GANSynthesisError(f"{path} holds {non_finite} non-finite voxel values (NaN or infinity); fix or mask "
                                "them first.")
