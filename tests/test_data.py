"""data/mnist.py: the shipped IDX files, their checksums and shapes, and clear failures."""
from __future__ import annotations

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from data.mnist import CHECKSUMS, FILES, MNIST_DIR, MnistFileError, load_mnist, parse_idx


@pytest.mark.parametrize("name", sorted(CHECKSUMS))
def test_shipped_files_match_canonical_md5(name):
    raw = gzip.decompress((MNIST_DIR / name).read_bytes())
    assert hashlib.md5(raw).hexdigest() == CHECKSUMS[name]


@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_shapes_dtypes_and_label_range(split, n):
    images, labels = load_mnist(split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0
    # every class is reasonably represented (MNIST: 5-7k per class in train, ~1k in test)
    assert np.bincount(labels, minlength=10).min() > n // 20


def test_known_first_labels_and_read_only():
    _, train_labels = load_mnist("train")
    _, test_labels = load_mnist("test")
    assert train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    with pytest.raises(ValueError):
        test_labels[0] = 3   # arrays are shared through a cache, so they must be read-only


def test_unknown_split_rejected():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


def _copy_test_split(tmp_path):
    for name in FILES["test"]:
        shutil.copy(MNIST_DIR / name, tmp_path / name)


def test_missing_file_raises_clear_error(tmp_path):
    _copy_test_split(tmp_path)
    (tmp_path / FILES["test"][1]).unlink()
    with pytest.raises(MnistFileError, match="missing"):
        load_mnist("test", tmp_path)


def test_corrupt_file_raises_checksum_error(tmp_path):
    _copy_test_split(tmp_path)
    name = FILES["test"][0]
    raw = bytearray(gzip.decompress((MNIST_DIR / name).read_bytes()))
    raw[5000] ^= 0xFF  # one flipped pixel byte: still valid gzip and IDX, wrong content
    (tmp_path / name).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(MnistFileError, match="corrupt.*MD5"):
        load_mnist("test", tmp_path)


def test_truncated_gzip_raises_clear_error(tmp_path):
    _copy_test_split(tmp_path)
    name = FILES["test"][0]
    data = (MNIST_DIR / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(MnistFileError, match="not a readable gzip"):
        load_mnist("test", tmp_path)


def test_parse_idx_rejects_bad_headers():
    with pytest.raises(MnistFileError):
        parse_idx(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")   # float type code, not ubyte
    with pytest.raises(MnistFileError, match="header promises"):
        parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")  # 5 promised, 2 present
    arr = parse_idx(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(6)))
    assert arr.shape == (2, 3) and arr[1, 2] == 5


def test_memory_mapped_training_images_equal_the_loaded_ones(tmp_path, monkeypatch):
    """load_mnist(mmap=True): the same pixels, read-only, from an uncompressed copy it writes
    once; a corrupted copy is noticed and rewritten."""
    import data.mnist as M

    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    M._load_mapped.cache_clear()
    images, labels = M.load_mnist("test", mmap=True)
    ref_images, ref_labels = M.load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert not images.flags.writeable
    assert np.array_equal(images, ref_images) and np.array_equal(labels, ref_labels)
    copy = tmp_path / f"{M.CHECKSUMS['t10k-images-idx3-ubyte.gz']}.idx"
    assert copy.is_file()
    del images
    M._load_mapped.cache_clear()
    with open(copy, "r+b") as f:        # corrupt one pixel
        f.seek(16 + 500)
        f.write(b"\x7f" if f.read(1) != b"\x7f" else b"\x00")
    images, _ = M.load_mnist("test", mmap=True)
    assert np.array_equal(images, ref_images)
    M._load_mapped.cache_clear()
