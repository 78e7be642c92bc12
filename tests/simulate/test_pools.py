"""Image pools: the IDX reader and EMNIST's orientation, npz pools, stratified draws, the
stand-in's classes and determinism, and the batched rotation."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from scipy import ndimage

from gwasrep.errors import InputError
from gwasrep.io.idx import idx_shape, read_idx, write_idx
from gwasrep.simulate.pools import (
    EMNIST_CLASSES,
    emnist_source,
    find_emnist_files,
    read_emnist,
    read_image_pool,
    standin_pool,
    stratified_indices,
    warp_batch,
)


def _glyph_l() -> np.ndarray:
    """An upright 'L' (a vertical bar on the left, a foot at the bottom), 28 x 28."""
    g = np.zeros((28, 28), dtype=np.uint8)
    g[4:24, 6:9] = 255
    g[21:24, 6:20] = 255
    return g


def _write_emnist(d, n_train=5, n_test=3, compress=True):
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        x[0] = _glyph_l().T  # EMNIST stores every image transposed
        y = rng.integers(0, 62, n).astype(np.uint8)
        y[0] = 21  # 'L'
        ext = ".gz" if compress else ""
        write_idx(d / f"emnist-byclass-{part}-images-idx3-ubyte{ext}", x, compress=compress)
        write_idx(d / f"emnist-byclass-{part}-labels-idx1-ubyte{ext}", y, compress=compress)


def test_idx_round_trip_header_and_bad_files(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / "a-idx3-ubyte.gz", a)
    with gzip.open(p, "rb") as fh:
        head = fh.read(16)
    assert head[:4] == bytes([0, 0, 8, 3])                 # magic 2051: uint8, 3 dimensions
    assert np.frombuffer(head[4:16], ">i4").tolist() == [2, 3, 4]
    np.testing.assert_array_equal(read_idx(p, ndim=3), a)
    assert idx_shape(p) == (2, 3, 4)
    raw = write_idx(tmp_path / "b", a.astype(np.int32), compress=False)
    np.testing.assert_array_equal(read_idx(raw), a)
    (tmp_path / "bad").write_bytes(b"\x00\x01\x08\x03" + b"\x00" * 20)
    with pytest.raises(InputError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    with pytest.raises(InputError, match="3 dimensions; expected 1"):
        read_idx(p, ndim=1)
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + np.array([10], ">i4").tobytes()
                                     + b"\x00" * 4)
    with pytest.raises(InputError, match=r"shape \(10,\)"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_emnist_reader_fixes_the_transposed_orientation(tmp_path, layout):
    d = tmp_path if layout == "flat" else tmp_path / "EMNIST" / "raw"
    d.mkdir(parents=True, exist_ok=True)
    _write_emnist(d, compress=layout == "flat")
    pool = read_emnist(tmp_path)
    assert pool.n_images == 8
    assert pool.classes == EMNIST_CLASSES
    assert pool.classes[pool.labels[0]] == "L"
    np.testing.assert_array_equal(pool.images[0], _glyph_l())   # upright again
    assert pool.images[0][22, 15] == 255
    assert pool.images[0][15, 22] == 0
    np.testing.assert_array_equal(pool.images[5], _glyph_l())   # the first test image


def test_emnist_dir_errors_list_what_was_found(tmp_path):
    _write_emnist(tmp_path)
    (tmp_path / "emnist-byclass-test-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"emnist-byclass-test-labels-idx1-ubyte\[.gz\] missing"
                                         r"\); found emnist-byclass-test-images"):
        find_emnist_files(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        find_emnist_files(tmp_path / "nowhere")
    _write_emnist(tmp_path)
    (tmp_path / "emnist-byclass-train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + np.array([5, 28, 28], ">i4").tobytes()))
    with pytest.raises(InputError, match="IDX header says shape"):
        read_emnist(tmp_path)


def test_npz_pool_and_its_errors(tmp_path):
    x = np.zeros((6, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "p.npz", images=x, labels=np.array([3, 3, 7, 7, 9, 9]))
    pool = read_image_pool(tmp_path / "p.npz")
    assert pool.classes == ["3", "7", "9"]
    assert pool.labels.tolist() == [0, 0, 1, 1, 2, 2]
    np.savez(tmp_path / "q.npz", images=x.astype(float), labels=np.zeros(6, int))
    with pytest.raises(InputError, match="must be N x H x W uint8"):
        read_image_pool(tmp_path / "q.npz")
    np.savez(tmp_path / "r.npz", pictures=x)
    with pytest.raises(InputError, match="expected arrays 'images' and 'labels'"):
        read_image_pool(tmp_path / "r.npz")
    np.save(tmp_path / "s.npy", x)
    (tmp_path / "s.npy").rename(tmp_path / "s.npz")
    with pytest.raises(InputError, match="found a single .npy array"):
        read_image_pool(tmp_path / "s.npz")
    whole = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="not a readable .npz"):
        read_image_pool(tmp_path / "t.npz")
    np.savez(tmp_path / "u.npz", images=np.array([None] * 6), labels=np.zeros(6, int))
    with pytest.raises(InputError, match="not a readable .npz"):
        read_image_pool(tmp_path / "u.npz")


def test_pool_sources_fingerprint_the_content(tmp_path):
    """Data simulated from a pool are keyed by its source: a changed file changes it."""
    x = np.zeros((6, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "p.npz", images=x, labels=np.arange(6))
    before = read_image_pool(tmp_path / "p.npz").source
    x[0, 0, 0] = 1
    np.savez(tmp_path / "p.npz", images=x, labels=np.arange(6))
    assert read_image_pool(tmp_path / "p.npz").source != before
    _write_emnist(tmp_path)
    first = emnist_source(tmp_path)
    assert first == emnist_source(tmp_path) == read_emnist(tmp_path).source
    y = read_idx(tmp_path / "emnist-byclass-test-labels-idx1-ubyte.gz")
    write_idx(tmp_path / "emnist-byclass-test-labels-idx1-ubyte.gz", (y + 1) % 62)
    assert emnist_source(tmp_path) != first


def test_damaged_idx_files_are_input_errors(tmp_path):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    whole = write_idx(tmp_path / "a.gz", a).read_bytes()
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) - 20])   # gzip stream cut short
    with pytest.raises(InputError, match="could not read IDX file"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.gz").write_bytes(whole[:12] + b"\xff" * 40)  # damaged deflate data
    with pytest.raises(InputError, match="could not read IDX file"):
        read_idx(tmp_path / "junk.gz")
    (tmp_path / "zero").write_bytes(bytes([0, 0, 8, 0]))             # no dimensions
    with pytest.raises(InputError, match="not an IDX file"):
        idx_shape(tmp_path / "zero")
    with pytest.raises(InputError, match="3 dimensions; expected 1"):
        idx_shape(tmp_path / "a.gz", ndim=1)


def test_stratified_draws_are_balanced_and_exclusive():
    labels = np.repeat(np.arange(5), [100, 100, 100, 100, 3])
    rng = np.random.default_rng(0)
    a = stratified_indices(labels, 250, rng)
    assert len(set(a)) == 250
    counts = np.bincount(labels[a], minlength=5)
    assert counts[4] == 3                      # a short class gives its share to the others
    assert counts[:4].max() - counts[:4].min() <= 1
    b = stratified_indices(labels, 100, rng, exclude=a)
    assert not set(a) & set(b)
    with pytest.raises(InputError, match="has 153 images available; 200 were asked for"):
        stratified_indices(labels, 200, rng, exclude=a)


def test_standin_has_every_class_and_is_deterministic():
    a = standin_pool(200, seed=3)
    b = standin_pool(200, seed=3)
    c = standin_pool(200, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert sorted(set(a.labels.tolist())) == list(range(62))
    assert np.bincount(a.labels).max() - np.bincount(a.labels).min() <= 1
    assert a.standin
    assert "not EMNIST" in a.source
    # No two images alike, each at full contrast, nearly all with a dark border.
    assert len({row.tobytes() for row in a.images}) == 200
    assert (a.images.reshape(200, -1).max(axis=1) == 255).all()
    border = np.concatenate([a.images[:, 0], a.images[:, -1], a.images[:, :, 0],
                             a.images[:, :, -1]], axis=1)
    assert (border.max(axis=1) < 128).mean() > 0.9


def test_warp_batch_rotates_counterclockwise_about_the_centre():
    rng = np.random.default_rng(0)
    x = rng.random((3, 11, 11))
    np.testing.assert_allclose(warp_batch(x, degrees=np.zeros(3)), x, atol=1e-12)
    # +90 degrees counter-clockwise, as displayed (rows down): np.rot90's direction.
    np.testing.assert_allclose(warp_batch(x, degrees=np.full(3, 90.0)),
                               np.rot90(x, k=1, axes=(1, 2)), atol=1e-9)
    # Any angle: scipy's reference, which rotates counter-clockwise as displayed too.
    ref = ndimage.rotate(x[0], 30.0, reshape=False, order=1, mode="constant")
    got = warp_batch(x[:1], degrees=[30.0])[0]
    np.testing.assert_allclose(got[2:-2, 2:-2], ref[2:-2, 2:-2], atol=1e-9)
