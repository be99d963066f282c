"""Synthetic "phone photos" of handwritten digits, made from real MNIST test digits.

The lab ends with students classifying photos of digits taken with a phone. Not every student has
a camera at hand, and the autograder needs photos whose labels it knows, so this module renders
them: a real MNIST digit is inverted to dark ink on off-white paper, enlarged with a margin,
slightly rotated and warped, lit unevenly, blurred, given sensor noise and saved as a JPEG.

The source digits come only from the lab's test split (``train_test_split(X, y, random_state=9,
train_size=7500, test_size=2500)``), so a model trained on ``X_train`` has never seen them. All
randomness comes from fixed numpy seeds and the JPEG settings are fixed, so the same data always
gives byte-identical files.

The public photos carry their labels in their names (``digit_7_a.jpg``): students are meant to
see them. The hidden photos must not, since student code runs during grading and could list their
folder: they are named ``photo_000.jpg`` ... ``photo_099.jpg`` in a seeded shuffled order, and
their labels are in ``labels.csv`` next to them, which only the trusted grader reads.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from labkit.atomic import write_atomically
from labkit.data import CLASSES, REPO_ROOT, DataError, load_mnist

SEED = 20240917
SPLIT = {"random_state": 9, "train_size": 7500, "test_size": 2500}
PUBLIC_DIR = Path("assignment") / "photos"
HIDDEN_DIR = Path("assignment") / "hidden_photos"
LABELS_FILE = HIDDEN_DIR / "labels.csv"
DATA_FILE = Path("assignment") / "data" / "mnist_10k.npz"
PUBLIC_PER_DIGIT = 2
HIDDEN_PER_DIGIT = 10
JPEG_OPTIONS = {"format": "JPEG", "quality": 88, "optimize": False, "subsampling": 2}

_NAME = re.compile(r"^digit_(\d)_\w+\.jpg$")


class PhotoError(Exception):
    """Bad input for the photo builder; the message names the offending file or value."""


def label_of(path: str | os.PathLike) -> str:
    """Return the digit label carried by a public photo's name (``digit_7_a.jpg`` -> ``'7'``).

    Hidden photos' names carry no label (their labels are in ``labels.csv``).
    """
    match = _NAME.match(Path(path).name)
    if match is None:
        raise PhotoError(f"{path}: not a public photo name like 'digit_7_a.jpg'")
    return match.group(1)


def render_photo(digit: np.ndarray, *, rng: np.random.Generator) -> Image.Image:
    """Render one MNIST digit as an RGB "phone photo" of dark ink on off-white paper.

    ``digit`` holds 784 uint8 pixels in MNIST's convention (ink bright, background 0). Every
    random choice (size, colours, placement, rotation, warp, lighting, blur, noise) is drawn
    from ``rng``, so the same generator state gives the same image.
    """
    digit = np.asarray(digit)
    if digit.shape != (784,) or digit.dtype != np.uint8:
        raise PhotoError(f"expected a (784,) uint8 digit, got {digit.shape} {digit.dtype}")
    width = int(rng.integers(220, 421))
    height = int(round(width * rng.uniform(0.92, 1.10)))

    # The 20x20 core of an MNIST digit should span 55-75% of the shorter side.
    patch = int(round(min(width, height) * rng.uniform(0.55, 0.75) * 28 / 20))
    ink = Image.fromarray(digit.reshape(28, 28)).resize((patch, patch), Image.Resampling.LANCZOS)
    ink = ink.rotate(float(rng.uniform(-7, 7)), Image.Resampling.BICUBIC, expand=True)
    layer = Image.new("L", (width, height), 0)
    # Off-centre the digit a little, but keep its strokes at least 6% away from every edge.
    offset = rng.uniform(-0.06, 0.06, size=2) * (width, height)
    x0, y0, x1, y1 = ink.getbbox() or (0, 0, ink.width, ink.height)
    left = _clamp((width - ink.width) / 2 + offset[0], 0.06 * width - x0, 0.94 * width - x1)
    top = _clamp((height - ink.height) / 2 + offset[1], 0.06 * height - y0, 0.94 * height - y1)
    layer.paste(ink, (left, top))
    layer = _perspective(layer, rng)
    layer = layer.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.6))))
    alpha = np.asarray(layer, dtype=float)[..., None] / 255.0

    paper = np.array([234.0, 230.0, 220.0]) + rng.uniform(-14, 8) + rng.uniform(-4, 4, size=3)
    ink_rgb = np.array([35.0, 38.0, 70.0]) + rng.uniform(-20, 20, size=3)
    ink_strength = rng.uniform(0.8, 1.0)
    rgb = paper * (1 - ink_strength * alpha) + ink_rgb * ink_strength * alpha
    rgb = rgb * _lighting(width, height, rng)[..., None]
    rgb += rng.normal(0.0, rng.uniform(2.0, 5.0), size=rgb.shape)
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def _clamp(value: float, low: float, high: float) -> int:
    """Round ``value`` clipped to ``[low, high]``; the midpoint when the range is empty."""
    return int(round((low + high) / 2 if low > high else min(max(value, low), high)))


def _perspective(layer: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Warp ``layer`` as if the paper were tilted a little towards or away from the camera."""
    w, h = layer.size
    jitter = rng.uniform(-0.04, 0.04, size=(4, 2)) * (w, h)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=float) + jitter
    dst = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=float)
    # Solve for the 8 coefficients mapping output (dst) coordinates to input (src) coordinates.
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows), np.array(rhs))
    return layer.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)


def _lighting(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Return a smooth brightness field: a linear gradient in a random direction plus a vignette."""
    y, x = np.mgrid[0:height, 0:width]
    x = x / (width - 1) - 0.5
    y = y / (height - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = rng.uniform(0.01, 0.04) * (x * np.cos(angle) + y * np.sin(angle))
    cx, cy = rng.uniform(-0.2, 0.2, size=2)
    vignette = rng.uniform(0.01, 0.03) * ((x - cx) ** 2 + (y - cy) ** 2)
    return rng.uniform(0.92, 1.04) + gradient - vignette


def _test_digits(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the lab's ``(X_test, y_test)`` from the data file under ``root``."""
    from sklearn.model_selection import train_test_split

    path = Path(root) / DATA_FILE
    if not path.is_file():
        raise PhotoError(f"{path}: data file not found (it ships with the lab)")
    try:
        X, y = load_mnist(path=path)
    except DataError as exc:
        raise PhotoError(str(exc)) from exc
    _, X_test, _, y_test = train_test_split(X, y, **SPLIT)
    return X_test, y_test


def photo_plan(y_test: np.ndarray) -> list[tuple[Path, int]]:
    """Return ``(relative path, index into X_test)`` for every photo, public set first.

    For each class, one seeded draw picks distinct test digits: the first ones go to the public
    set, the rest to the hidden set, so the two sets never share a source digit. The hidden
    digits are then shuffled by the same generator and named ``photo_000.jpg``, ``photo_001.jpg``,
    ... in that order, so neither a hidden photo's name nor its place in the folder tells its
    label (``y_test[index]``).
    """
    rng = np.random.default_rng(SEED)
    public, hidden = [], []
    for label in CLASSES:
        candidates = np.flatnonzero(np.asarray(y_test) == label)
        picked = rng.choice(candidates, PUBLIC_PER_DIGIT + HIDDEN_PER_DIGIT, replace=False)
        for k, index in enumerate(picked[:PUBLIC_PER_DIGIT]):
            public.append((PUBLIC_DIR / f"digit_{label}_{'abcdefgh'[k]}.jpg", int(index)))
        hidden.extend(int(index) for index in picked[PUBLIC_PER_DIGIT:])
    shuffled = [hidden[k] for k in rng.permutation(len(hidden))]
    return public + [(HIDDEN_DIR / f"photo_{k:03d}.jpg", i) for k, i in enumerate(shuffled)]


def _labels_csv(rows: list[tuple[str, str]]) -> str:
    """Return the text of ``labels.csv``: header ``photo,label``, one row per photo, sorted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["photo", "label"])
    writer.writerows(sorted(rows))
    return buffer.getvalue()


def build_photos(*, root: Path = REPO_ROOT) -> list[Path]:
    """Write the public and hidden photo sets under ``root/assignment`` and return their paths.

    The hidden photos' labels go to ``hidden_photos/labels.csv`` (not among the returned paths).
    Stale ``*.jpg`` files in the two folders that are not part of the new sets are removed.
    """
    root = Path(root)
    X_test, y_test = _test_digits(root)
    written, hidden_labels = [], []
    for number, (relative, index) in enumerate(photo_plan(y_test)):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        photo = render_photo(X_test[index], rng=np.random.default_rng([SEED, number]))
        buffer = io.BytesIO()
        photo.save(buffer, **JPEG_OPTIONS)
        write_atomically(path, buffer.getvalue())
        written.append(path)
        if relative.parent == HIDDEN_DIR:
            hidden_labels.append((relative.name, str(y_test[index])))
    write_atomically(root / LABELS_FILE, _labels_csv(hidden_labels))
    keep = set(written)
    for folder in (root / PUBLIC_DIR, root / HIDDEN_DIR):
        for stale in sorted(folder.glob("*.jpg")):
            if stale not in keep:
                stale.unlink()
    return written
