"""Datasets: the prepared MNIST/Fashion-MNIST splits, the safe unpickler, IDX parsing, clear errors."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from model import data


def test_mnist_splits_and_normalisation() -> None:
    splits = data.load("mnist", limit=500)
    assert {k: len(v) for k, v in splits.items()} == {"train": 500, "val": 500, "test": 500}
    x = splits["train"].x
    assert x.shape == (500, 784) and x.dtype == torch.float32
    torch.testing.assert_close(x.norm(dim=1), torch.ones(500))  # per-image L2 normalisation (docs/model.md)
    arrays = data.load_arrays("mnist")
    assert arrays["train_x"].shape == (50000, 784) and arrays["val_x"].shape == (10000, 784)
    assert arrays["test_y"].shape == (10000,)
    assert set(np.unique(arrays["train_y"])) == set(range(10))
    # the classic ordering: the first training digit is a 5, the first test digit a 7
    assert arrays["train_y"][0] == 5 and arrays["test_y"][0] == 7


def test_fashion_mnist_prepared_from_idx() -> None:
    arrays = data.load_arrays("fashion-mnist")
    assert arrays["train_x"].shape == (50000, 784) and arrays["test_x"].shape == (10000, 784)
    assert arrays["train_y"][0] == 9  # Fashion-MNIST's first training item is an ankle boot


def test_unknown_and_missing_datasets_give_actionable_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(data.DataError, match="unknown dataset 'svhn'"):
        data.load_arrays("svhn")
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataError, match="python -m model.data fetch mnist"):
        data.load_arrays("mnist")
    assert data.main(["fetch", "fashion-mnist"]) == 0  # from Debian's package, into the new folder
    assert (tmp_path / "fashion-mnist.npz").exists()


def test_corrupt_dataset_is_reported(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path))
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(data.DataError, match="unreadable"):
        data.load_arrays("mnist")
    arrays = {f"{s}_{k}": np.zeros((n, 784) if k == "x" else (n,), np.uint8 if k == "x" else np.int64)
              for s, n in (("train", 50000), ("val", 10000), ("test", 10000)) for k in "xy"}
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(data.DataError, match="checksum"):  # right shapes, wrong content
        data.load_arrays("mnist")


def test_cli_reports_errors_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DRSAE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "absent")
    assert data.main(["fetch", "fashion-mnist"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "apt-get install dataset-fashion-mnist" in err and "\n" not in err


def test_restricted_unpickler_admits_arrays_only() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(data.safe_unpickle(pickle.dumps(((arr, arr[0]),), protocol=4))[0][0], arr)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.safe_unpickle(pickle.dumps(Evil()))


def test_mnist_pickle_checksum_is_verified() -> None:
    with pytest.raises(data.DataError, match="checksum"):
        data._from_mnist_pkl(gzip.compress(b"tampered"))


def test_read_idx() -> None:
    payload = np.arange(24, dtype=np.uint8)
    raw = b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4) + payload.tobytes()
    np.testing.assert_array_equal(data.read_idx(gzip.compress(raw)), payload.reshape(2, 3, 4))
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(raw[:-1])
    with pytest.raises(data.DataError, match="IDX"):
        data.read_idx(b"\x00\x00\x0d\x01" + raw[4:])
