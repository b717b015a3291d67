"""Tensors from files: .npy, a member of .npz, and ONNX TensorProto .pb.

Every reader measures the array from its header (shape and type) and checks it
against the limits before reading its data; nothing is ever unpickled.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from math import prod
from pathlib import Path
from typing import IO

import numpy as np

from .errors import GraphstepError
from .limits import MAX_FILE_BYTES, MAX_NUMBERS_OPTION, NUMBER_BYTES, max_tensor_numbers

ARRAY_SUFFIXES = (".npy", ".pb")


def fits(shape: tuple[int, ...], limit: int) -> bool:
    """Whether check_size lets a shape pass (`limit`: max_tensor_numbers()), for a caller that
    checks many and whose `what` costs to make."""
    return len(shape) <= 6 and (not shape or min(shape) >= 0) and prod(shape) <= limit


def check_size(shape: tuple[int, ...], what: str, file: str | None = None) -> None:
    """Refuse, before allocating, a tensor over the per-tensor limit."""
    if fits(shape, max_tensor_numbers()):
        return
    if shape and min(shape) < 0:
        raise GraphstepError(f"{what} has a negative dimension {list(shape)}", file=file)
    if len(shape) > 6:
        raise GraphstepError(
            f"{what} has {len(shape)} dimensions; at most 6 are supported", file=file
        )
    size, limit = prod(shape), max_tensor_numbers()
    if size > limit:
        raise GraphstepError(
            f"{what} would hold {size:,} numbers (shape {list(shape)}); the limit is {limit:,}",
            file=file,
            hint=f"{MAX_NUMBERS_OPTION} N raises it",
        )


def _check_array(shape: tuple[int, ...], what: str, file: str) -> None:
    """Refuse, from its header, an array over the limits or with no numbers at all."""
    check_size(shape, what, file)
    if 0 in shape:
        raise GraphstepError(
            f"{what} is empty (shape {list(shape)})",
            file=file,
            hint="a tensor needs at least one number",
        )


def _npy_header(f: IO[bytes], what: str, file: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, SyntaxError) as e:
        raise GraphstepError(f"{what} is not a .npy array ({e})", file=file) from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise GraphstepError(
            f"{what} holds {dtype} values, not numbers",
            file=file,
            hint="save a float or integer array; objects are never unpickled",
        )
    _check_array(tuple(shape), what, file)
    return tuple(shape), dtype


def _read_npy(f: IO[bytes], what: str, file: str) -> np.ndarray:
    shape, _ = _npy_header(f, what, file)
    f.seek(0)
    try:
        array = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise GraphstepError(f"{what} cannot be read: {e}", file=file) from None
    if array.shape != shape:
        raise GraphstepError(f"{what} is truncated", file=file)
    return np.asarray(array, dtype=np.float64)


def read_array(path: str) -> np.ndarray:
    """A .npy file or an ONNX TensorProto .pb file as float64, measured before it is read."""
    p = Path(path)
    _not_a_fifo(p, path)
    try:
        if p.suffix.lower() == ".pb":
            return _read_tensor_proto(p)
        with p.open("rb") as f:
            return _read_npy(f, f"'{path}'", path)
    except FileNotFoundError:
        raise GraphstepError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise GraphstepError(f"'{path}' is a directory, not an array file") from None
    except OSError as e:
        raise GraphstepError(f"cannot read {path}: {e.strerror}") from None


def _not_a_fifo(p: Path, shown: str, file: str | None = None) -> None:
    """Refuse a fifo or a device before opening it: reading one could never end."""
    if p.exists() and not p.is_dir() and not p.is_file():
        raise GraphstepError(f"'{shown}' is not a regular file", file=file)


def _read_tensor_proto(p: Path) -> np.ndarray:
    from onnx import TensorProto, numpy_helper
    from onnx.helper import tensor_dtype_to_field, tensor_dtype_to_np_dtype

    path = str(p)
    data = _read_bounded(p, NUMBER_BYTES * max_tensor_numbers() + MAX_FILE_BYTES)
    tensor = TensorProto()
    try:
        tensor.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends
        raise GraphstepError(
            "not an ONNX TensorProto (truncated or malformed)", file=path
        ) from None
    what = f"the tensor in '{path}'"
    shape = tuple(tensor.dims)
    _check_array(shape, what, path)
    try:
        dtype = np.dtype(tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, TypeError, ValueError):
        dtype = np.dtype(object)
    if dtype.kind not in "biuf" or tensor.data_location == TensorProto.EXTERNAL:
        raise GraphstepError(f"{what} does not hold numbers inline", file=path)
    # what the data holds, measured before it is expanded (packed data can grow 8 times)
    if tensor.HasField("raw_data"):
        held, needed = len(tensor.raw_data), prod(shape) * dtype.itemsize
        unit = "bytes"
    else:
        held, needed = len(getattr(tensor, tensor_dtype_to_field(tensor.data_type))), prod(shape)
        unit = "numbers"
    if held != needed:
        raise GraphstepError(
            f"{what} holds {held:,} {unit} of data; its dims {list(shape)} need {needed:,}",
            file=path,
        )
    try:
        return np.asarray(numpy_helper.to_array(tensor), dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise GraphstepError(f"{what} cannot be read: {e}", file=path) from None


def _read_bounded(p: Path, most: int) -> bytes:
    """A file's bytes, refused unread when it holds more than `most`."""
    with p.open("rb") as f:
        data = f.read(most + 1)
    if len(data) > most:
        raise GraphstepError(
            f"'{p}' holds more than {most:,} bytes, more than a tensor within the limits needs",
            file=str(p),
            hint=f"{MAX_NUMBERS_OPTION} N raises the limit",
        )
    return data


def npz_member_shape(path: str, key: str, file: str) -> tuple[int, ...]:
    """The shape of `key` in an .npz archive, from its header alone."""
    with _npz_member(path, key, file) as f:
        shape, _ = _npy_header(f, f"'{key}' in {Path(path).name}", file)
    return shape


def read_npz_member(path: str, key: str, file: str) -> np.ndarray:
    """`key` of an .npz archive as float64, measured before it is read; never unpickled."""
    with _npz_member(path, key, file) as f:
        return _read_npy(f, f"'{key}' in {Path(path).name}", file)


@contextmanager
def _npz_member(path: str, key: str, file: str) -> Iterator[IO[bytes]]:
    """An .npz member opened for reading (zip members can seek, so np.load reads them)."""
    _not_a_fifo(Path(path), Path(path).name, file)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if f"{key}.npy" not in names:
                keys = ", ".join(n.removesuffix(".npy") for n in names[:10])
                raise GraphstepError(
                    f"'{key}' is not in {Path(path).name}",
                    file=file,
                    hint=f"its arrays: {keys}" if keys else "the archive is empty",
                )
            with archive.open(f"{key}.npy") as stream:
                yield stream
    except FileNotFoundError:
        raise GraphstepError(f"no such file: {path}", file=file) from None
    except (zipfile.BadZipFile, OSError) as e:
        raise GraphstepError(f"{path} is not an .npz archive ({e})", file=file) from None
