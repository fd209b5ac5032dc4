"""Read the MNIST database from the IDX files shipped in ``data/mnist/`` with numpy alone.

MNIST (LeCun, Cortes & Burges) is distributed under CC BY-SA 3.0; see ``data/mnist/README.md``.
Every file is checked against the canonical MD5 of its uncompressed bytes before use, so a
truncated or corrupt copy fails loudly instead of silently training or evaluating on garbage.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

MNIST_DIR = Path(__file__).resolve().parent / "mnist"

# uncompressed MD5 of the canonical distribution (see data/mnist/README.md)
CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MEAN, STD = 0.1307, 0.3081  # pixel statistics of the training set over [0, 1]

Split = Literal["train", "test"]


class MnistFileError(RuntimeError):
    """An MNIST file is missing, unreadable or does not match its canonical checksum."""


def _read_verified(name: str, directory: Path) -> bytes:
    path = directory / name
    if not path.is_file():
        raise MnistFileError(f"MNIST file missing: {path}. The repository ships it; restore it with git.")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise MnistFileError(f"MNIST file {path} is not a readable gzip file ({exc}).") from exc
    digest = hashlib.md5(raw).hexdigest()
    if digest != CHECKSUMS[name]:
        raise MnistFileError(
            f"MNIST file {path} is corrupt: MD5 {digest}, expected {CHECKSUMS[name]}."
        )
    return raw


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse an IDX byte string (big-endian int32 magic and dims, then uint8 data)."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise MnistFileError("not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise MnistFileError(f"IDX payload has {data.size} bytes, header promises {int(np.prod(dims))}")
    return data.reshape(tuple(int(d) for d in dims))


@lru_cache(maxsize=2)
def _load(split: Split, directory: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lbl_name = FILES[split]
    images = parse_idx(_read_verified(img_name, Path(directory)))
    labels = parse_idx(_read_verified(lbl_name, Path(directory))).astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def cache_dir() -> Path:
    """Where :func:`load_mnist` keeps uncompressed copies for memory-mapping (``MNIST_CACHE_DIR``,
    else a folder in the system's temporary directory)."""
    return Path(os.environ.get("MNIST_CACHE_DIR") or Path(tempfile.gettempdir()) / "mnist-uint8")


def _md5_of_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:        # read in chunks: nothing of it stays in this process
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=2)
def _load_mapped(split: Split, directory: str) -> tuple[np.ndarray, np.ndarray]:
    """Images memory-mapped from an uncompressed copy of the IDX file (written once, named by
    its canonical MD5 and checked against it once per process), labels in memory."""
    img_name, lbl_name = FILES[split]
    path = cache_dir() / f"{CHECKSUMS[img_name]}.idx"
    if not path.is_file() or _md5_of_file(path) != CHECKSUMS[img_name]:
        raw = _read_verified(img_name, Path(directory))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)          # atomic: another process sees the whole file or none
        del raw
    head = np.fromfile(path, dtype=">i4", count=4)          # magic, N, rows, cols
    images = np.asarray(np.memmap(path, dtype=np.uint8, mode="r", offset=16, shape=tuple(int(d) for d in head[1:])))
    labels = parse_idx(_read_verified(lbl_name, Path(directory))).astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load_mnist(split: Split = "train", directory: Path | str = MNIST_DIR,
               mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 [N, 28, 28], labels int64 [N])`` for ``"train"`` or ``"test"``.

    The arrays are read-only and cached per process (about 55 MB for both splits). With
    ``mmap`` the images are memory-mapped from an uncompressed copy in :func:`cache_dir`
    instead: only the pages of the images read are resident, and they are the OS's file cache,
    shared by every process on the machine (a server that shows a few training images holds
    kilobytes of them, not 47 MB). Where that folder cannot be written, the images are loaded
    into memory as without ``mmap``.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if mmap:
        try:
            return _load_mapped(split, str(directory))
        except OSError:
            pass
    return _load(split, str(directory))
