"""Image augmentations in plain torch, against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers import require_torch

torch = require_torch()

from gwasrep.models import imageops  # noqa: E402


def _batch(rng, b=3, c=1, h=9, w=9):
    return torch.from_numpy(rng.random((b, c, h, w))).to(torch.float64)


def test_rotate_quarter_turn_is_rot90_and_zero_is_identity():
    x = _batch(np.random.default_rng(0), h=8, w=8)
    assert torch.allclose(imageops.rotate(x, torch.zeros(3)), x, atol=1e-12)
    # 90 degrees counter-clockwise on screen (row 0 at the top): np.rot90's direction,
    # from the H axis towards W.
    got = imageops.rotate(x, torch.full((3,), 90.0))
    assert torch.allclose(got, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-9)
    assert np.allclose(got[0, 0].numpy(), np.rot90(x[0, 0].numpy()), atol=1e-9)
    # Rotation by a and then -a loses only interpolation detail near the centre.
    back = imageops.rotate(imageops.rotate(x, torch.full((3,), 90.0)), torch.full((3,), -90.0))
    assert torch.allclose(back, x, atol=1e-9)


def test_rotate_matches_scipy_bilinear():
    x = _batch(np.random.default_rng(1), b=1, h=15, w=15)
    got = imageops.rotate(x, torch.tensor([30.0]))[0, 0].numpy()
    # scipy.ndimage.rotate also turns counter-clockwise on screen for a positive angle.
    ref = ndimage.rotate(x[0, 0].numpy(), 30.0, reshape=False, order=1, mode="constant")
    inner = np.s_[3:-3, 3:-3]  # away from the border, where the zero-padding conventions differ
    assert np.allclose(got[inner], ref[inner], atol=1e-9)


def test_resized_crop_samples_the_box_bilinearly():
    x = _batch(np.random.default_rng(2), b=1, h=10, w=12)
    box = torch.tensor([[0.2, -0.1, 0.5, 0.6]])  # cx, cy, w, h (normalized)
    got = imageops.resized_crop(x, box)[0, 0].numpy()
    h, w = 10, 12
    # Output pixel (i, j) has normalized centre u = (2j + 1)/w - 1, v = (2i + 1)/h - 1; it
    # samples the input at (cx + w_box u, cy + h_box v), i.e. pixel ((x + 1) w - 1) / 2.
    u = (2 * np.arange(w) + 1) / w - 1
    v = (2 * np.arange(h) + 1) / h - 1
    px = ((0.2 + 0.5 * u + 1) * w - 1) / 2
    py = ((-0.1 + 0.6 * v + 1) * h - 1) / 2
    yy, xx = np.meshgrid(py, px, indexing="ij")
    ref = ndimage.map_coordinates(x[0, 0].numpy(), [yy, xx], order=1, mode="constant")
    assert np.allclose(got, ref, atol=1e-9)
    full = imageops.resized_crop(x, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    assert torch.allclose(full, x, atol=1e-12)


def test_gaussian_blur_matches_scipy_correlation():
    x = _batch(np.random.default_rng(3), b=2, c=3, h=11, w=13)
    sigma = torch.tensor([0.7, 1.6])
    got = imageops.gaussian_blur(x, sigma, kernel_size=5).numpy()
    for i, s in enumerate(sigma.tolist()):
        t = np.arange(5) - 2.0
        k = np.exp(-0.5 * (t / s) ** 2)
        k /= k.sum()
        for c in range(3):
            # torch's 'reflect' padding is scipy's 'mirror' (the edge is not repeated).
            ref = ndimage.correlate1d(x[i, c].numpy(), k, axis=0, mode="mirror")
            ref = ndimage.correlate1d(ref, k, axis=1, mode="mirror")
            assert np.allclose(got[i, c], ref, atol=1e-12)


def test_color_jitter_closed_forms():
    rng = np.random.default_rng(4)
    x = _batch(rng, b=2, c=1)
    one = torch.ones(2)
    # Brightness scales every pixel.
    assert torch.allclose(imageops.color_jitter(x, torch.tensor([0.5, 1.5]), one, one),
                          x * torch.tensor([0.5, 1.5])[:, None, None, None])
    # Contrast keeps the mean and scales deviations from it.
    got = imageops.color_jitter(x, one, torch.tensor([0.3, 2.0]), one)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(got, m + (x - m) * torch.tensor([0.3, 2.0])[:, None, None, None])
    # Saturation leaves a grey RGB image alone, and 0 makes any RGB image grey.
    grey = x.repeat(1, 3, 1, 1)
    assert torch.allclose(imageops.color_jitter(grey, one, one, torch.tensor([0.2, 3.0])), grey)
    rgb = _batch(rng, b=2, c=3)
    flat = imageops.color_jitter(rgb, one, one, torch.zeros(2))
    lum = (rgb * torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype)[None, :, None, None]).sum(1)
    assert torch.allclose(flat, lum[:, None].expand_as(rgb))


def test_random_erasing_erases_one_rectangle():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(200, 1, 20, 20)
    y = imageops.random_erasing(x, g, p=1.0)
    for img in y[:, 0]:
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        area = len(rows)
        assert area > 0
        # The zeros fill exactly their bounding box: one rectangle.
        assert area == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert area <= 0.33 * 400 + 20  # rounding of the sides
    assert torch.equal(imageops.random_erasing(x, g, p=0.0), x)
    frac = (imageops.random_erasing(x, torch.Generator().manual_seed(1), p=0.5) == 0).any(
        dim=(1, 2, 3)).float().mean().item()
    assert 0.4 < frac < 0.6


def test_augmentations_are_seeded_and_keep_shape():
    x = _batch(np.random.default_rng(5), b=4, c=3, h=16, w=16).float()
    aug = imageops.build_augment(["rotation", "crop", "blur", "jitter", "erasing", "flip"])
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(imageops.build_augment([])(x, torch.Generator()), x)
    with pytest.raises(ValueError, match="unknown augmentation warp"):
        imageops.build_augment(["warp"])
