"""Tests for the synthetic phone photos (labkit.photos)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import train_test_split

from labkit import photos
from labkit.data import REPO_ROOT, load_mnist

DATA = REPO_ROOT / "assignment" / "data" / "mnist_10k.npz"


def _root_with_data(root: Path) -> Path:
    """Return ``root`` with the lab's data file linked in at ``assignment/data``."""
    (root / "assignment" / "data").mkdir(parents=True)
    (root / photos.DATA_FILE).symlink_to(DATA)
    return root


def _files(root: Path) -> dict[str, bytes]:
    """Map each file's path relative to ``root`` to its bytes (both photo folders)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for folder in (photos.PUBLIC_DIR, photos.HIDDEN_DIR)
        for path in sorted((root / folder).iterdir())
    }


def _hidden_labels(root: Path) -> list[tuple[str, str]]:
    """Return the ``(photo, label)`` rows of ``labels.csv`` under ``root``, checking its header."""
    with (root / photos.LABELS_FILE).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["photo", "label"]
    assert all(len(row) == 2 for row in rows[1:])
    return [(name, label) for name, label in rows[1:]]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[Path]]:
    """One build into a fresh root, shared by the read-only tests."""
    root = _root_with_data(tmp_path_factory.mktemp("built"))
    return root, photos.build_photos(root=root)


@pytest.fixture(scope="module")
def split():
    """The lab's split: ``(X_train, X_test, y_train, y_test)``."""
    X, y = load_mnist(path=DATA)
    return train_test_split(X, y, **photos.SPLIT)


def test_build_is_byte_identical_and_replaces_stale_files(built, tmp_path):
    first_root, _ = built
    second_root = _root_with_data(tmp_path)
    stale = second_root / photos.PUBLIC_DIR / "digit_3_z.jpg"
    old_hidden = second_root / photos.HIDDEN_DIR / "hidden_3_07.jpg"  # the old, labelled naming
    other = second_root / photos.HIDDEN_DIR / "notes.txt"
    for path in (stale, old_hidden, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"old")
    (second_root / photos.PUBLIC_DIR / "digit_0_a.jpg").write_bytes(b"old")
    (second_root / photos.LABELS_FILE).write_text("photo,label\nphoto_000.jpg,0\n")

    photos.build_photos(root=second_root)

    assert not stale.exists()
    assert not old_hidden.exists()
    assert other.read_bytes() == b"old"
    other.unlink()
    first, second = _files(first_root), _files(second_root)
    assert len(first) == 121  # 120 photos and labels.csv
    assert first == second


def test_names_counts_labels_and_sources(built, split):
    root, written = built
    public = sorted(p.name for p in (root / photos.PUBLIC_DIR).iterdir())
    hidden = sorted(p.name for p in (root / photos.HIDDEN_DIR).iterdir())
    assert public == [f"digit_{d}_{k}.jpg" for d in range(10) for k in "ab"]
    hidden_photos = [f"photo_{k:03d}.jpg" for k in range(100)]
    assert hidden == sorted([*hidden_photos, "labels.csv"])
    assert sorted(written) == sorted(
        [root / photos.PUBLIC_DIR / n for n in public]
        + [root / photos.HIDDEN_DIR / n for n in hidden_photos]
    )
    assert Counter(photos.label_of(n) for n in public) == {str(d): 2 for d in range(10)}
    rows = _hidden_labels(root)
    assert [name for name, _ in rows] == hidden_photos  # one row per photo, sorted by name
    labels = [label for _, label in rows]
    assert Counter(labels) == {str(d): 10 for d in range(10)}
    # Shuffled: the order of the names tells nothing about the labels.
    assert labels != sorted(labels)
    assert sum(a == b for a, b in zip(labels, labels[1:], strict=False)) < 30

    X_train, X_test, _, y_test = split
    module_X_test, module_y_test = photos._test_digits(root)
    assert np.array_equal(module_X_test, X_test) and np.array_equal(module_y_test, y_test)
    plan = photos.photo_plan(y_test)
    indices = [index for _, index in plan]
    assert len(set(indices)) == len(indices) == 120  # public and hidden sources are disjoint
    label_by_name = dict(rows)
    for relative, index in plan:
        if relative.parent == photos.PUBLIC_DIR:
            assert y_test[index] == photos.label_of(relative)
        else:
            assert relative.parent == photos.HIDDEN_DIR
            assert y_test[index] == label_by_name[relative.name]
    # No source digit occurs in the training split, so a trained model has never seen it.
    train_rows = {row.tobytes() for row in X_train}
    assert not any(X_test[index].tobytes() in train_rows for index in indices)


def test_label_of_rejects_other_names():
    assert photos.label_of("some/dir/digit_7_a.jpg") == "7"
    assert photos.label_of(Path("digit_0_b.jpg")) == "0"
    names = ("digit_10_a.jpg", "photo.jpg", "digit_3_a.png", "photo_007.jpg", "hidden_7_03.jpg")
    for name in names:
        with pytest.raises(photos.PhotoError, match="not a public photo name"):
            photos.label_of(name)


def test_photos_look_like_ink_on_paper(built):
    root, written = built
    sizes = set()
    for path in written:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert not image.getexif()
            assert all(200 <= side <= 480 for side in image.size), (path, image.size)
            sizes.add(image.size)
            gray = np.asarray(image.convert("L"), dtype=float)
            rgb = np.asarray(image, dtype=float)
        assert np.median(gray) > 150, path  # off-white paper
        assert np.percentile(gray, 1) < 110, path  # dark ink
        assert np.std(rgb[..., 0] - rgb[..., 2]) < 40, path  # not a colour photo of something else
        h, w = gray.shape
        border = np.concatenate([gray[:5], gray[-5:], gray[:, :5].T, gray[:, -5:].T], axis=None)
        assert border.min() > np.median(gray) - 60, path  # the digit is not cut off at an edge
        assert gray[h // 4 : -h // 4, w // 4 : -w // 4].min() < 110, path  # ink near the middle
    assert len(sizes) > 50  # sizes vary between photos


def test_photos_show_their_source_digit(built, split):
    """After inverting and shrinking to 28x28, a photo resembles its own source digit."""
    root, _ = built
    _, X_test, _, y_test = split
    plan = photos.photo_plan(y_test)
    sources = X_test[[index for _, index in plan]].astype(float)
    shrunk = []
    for relative, _ in plan:
        with Image.open(root / relative) as image:
            small = image.convert("L").resize((28, 28), Image.Resampling.LANCZOS)
        shrunk.append(255.0 - np.asarray(small, dtype=float).ravel())
    corr = np.corrcoef(np.array(shrunk), sources)[:120, 120:]
    own = np.diag(corr)
    others = corr[~np.eye(120, dtype=bool)]
    assert own.mean() > 0.5
    assert own.mean() > others.mean() + 0.25


def test_render_photo_is_deterministic_and_checks_input(split):
    _, X_test, _, _ = split
    first = photos.render_photo(X_test[0], rng=np.random.default_rng(5))
    again = photos.render_photo(X_test[0], rng=np.random.default_rng(5))
    other = photos.render_photo(X_test[0], rng=np.random.default_rng(6))
    assert first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert first.size != other.size or not np.array_equal(np.asarray(first), np.asarray(other))
    with pytest.raises(photos.PhotoError, match="784"):
        photos.render_photo(X_test[0].reshape(28, 28), rng=np.random.default_rng(5))
    with pytest.raises(photos.PhotoError, match="uint8"):
        photos.render_photo(X_test[0].astype(float), rng=np.random.default_rng(5))


def test_committed_photos_are_up_to_date(built):
    root, _ = built
    committed = _files(REPO_ROOT)
    assert committed, "no photos under assignment/: run build_photos()"
    assert committed.keys() == _files(root).keys()
    outdated = sorted(name for name, data in _files(root).items() if committed[name] != data)
    assert not outdated, f"rebuild with build_photos(): {outdated[:5]}"


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(photos.PhotoError) as info:
        photos.build_photos(root=tmp_path)
    assert str(tmp_path / photos.DATA_FILE) in str(info.value)
    assert not (tmp_path / "assignment").exists()  # nothing written
