"""Batched image augmentations in plain torch (torchvision does not install beside the CPU
torch build this project targets).

Every op takes a float batch ``(B, C, H, W)`` and a ``torch.Generator``, draws its random
parameters per image from that generator (so a seed fixes the result on CPU) and returns
a new batch of the same shape. Geometric ops resample with ``grid_sample`` (bilinear,
zeros outside the image).

Names accepted by :func:`build_augment` (GEMCONT Sec. 3.4 used ``erasing`` for EMNIST,
``crop,blur`` for spirometry and ``crop,jitter,blur`` for fundus images):

========== ===========================================================================
rotation   rotate by an angle uniform in +-``max_degrees`` (30)
crop       random resized crop: area 8-100 %, aspect 3/4-4/3, resized to H x W
smallcrop  the same, mild: area 70-100 %, aspect 0.9-1.1 (keeps a glyph's orientation)
blur       Gaussian blur with p = 0.5, sigma uniform in 0.1-2.0 (kernel ~ H/10, odd)
jitter     colour jitter with p = 0.8: brightness, contrast, saturation +-0.4
erasing    random erasing with p = 0.5: a rectangle of 2-33 % area, aspect 0.3-3.3, set to 0
flip       horizontal flip with p = 0.5
========== ===========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.nn import functional

from gwasrep.errors import InputError

__all__ = ["AUGMENTATIONS", "VOLUME_AUGMENTATIONS", "ChannelNorm", "build_augment",
           "check_augment_for", "color_jitter", "gaussian_blur", "hflip", "random_erasing",
           "random_erasing_3d", "random_resized_crop", "resized_crop", "rotate"]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = functional.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=False)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image counter-clockwise by ``degrees[i]`` about its centre.

    ``affine_grid`` works in normalized coordinates, so for non-square images the
    x/y scales are corrected to keep the rotation rigid in pixels.
    """
    b, _, h, w = x.shape
    a = torch.deg2rad(degrees.to(torch.float64))
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.zeros(b, 2, 3, dtype=torch.float64)
    # Output pixel (u, v) samples the input at R^-1 (u, v); with y pointing down this
    # is a counter-clockwise rotation on screen.
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    return _affine(x, theta)


def random_rotation(x, g, max_degrees: float = 30.0):
    return rotate(x, _uniform(x.shape[0], -max_degrees, max_degrees, g))


def random_resized_crop(x, g, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """A crop of random area fraction and aspect ratio, resized back to H x W."""
    b = x.shape[0]
    area = _uniform(b, *scale, g)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), g)
    r = torch.exp(log_r)
    # Crop width and height as fractions of the image; clipped to fit.
    cw = torch.sqrt(area * r).clamp(max=1.0)
    ch = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(b, generator=g) * 2 - 1) * (1 - cw)  # centre in [-1, 1] coordinates
    cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - ch)
    return resized_crop(x, torch.stack([cx, cy, cw, ch], dim=1))


def resized_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Crop box ``(cx, cy, w, h)`` of each image, resized (bilinear) to the full H x W.

    The box is in normalized coordinates: centre ``(cx, cy)`` in [-1, 1] (``-1`` is the
    left/top edge of the image), width and height as fractions of the image's.
    """
    boxes = boxes.to(torch.float64)
    theta = torch.zeros(x.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 2] = boxes[:, 2], boxes[:, 0]
    theta[:, 1, 1], theta[:, 1, 2] = boxes[:, 3], boxes[:, 1]
    return _affine(x, theta)


def _gaussian_kernel(sigma: torch.Tensor, k: int) -> torch.Tensor:
    t = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    ker = torch.exp(-0.5 * (t[None, :] / sigma[:, None]) ** 2)
    return ker / ker.sum(dim=1, keepdim=True)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int | None = None
                  ) -> torch.Tensor:
    """Separable Gaussian blur, one sigma per image, reflect padding."""
    b, c, h, w = x.shape
    k = kernel_size or max(3, (min(h, w) // 10) | 1)
    ker = _gaussian_kernel(sigma.to(torch.float64), k).to(x.dtype).to(x.device)  # (B, k)
    pad = k // 2
    # Grouped convolution: one group per (image, channel).
    xx = x.reshape(1, b * c, h, w)
    kh = ker.repeat_interleave(c, dim=0)[:, None, :, None]
    kw = ker.repeat_interleave(c, dim=0)[:, None, None, :]
    xx = functional.conv2d(functional.pad(xx, (0, 0, pad, pad), mode="reflect"), kh, groups=b * c)
    xx = functional.conv2d(functional.pad(xx, (pad, pad, 0, 0), mode="reflect"), kw, groups=b * c)
    return xx.reshape(b, c, h, w)


def random_blur(x, g, p: float = 0.5, sigma=(0.1, 2.0)):
    b = x.shape[0]
    apply = torch.rand(b, generator=g) < p
    s = _uniform(b, *sigma, g)
    if not apply.any():
        return x
    out = x.clone()
    out[apply] = gaussian_blur(x[apply], s[apply])
    return out


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        wts = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
        return (x * wts[None, :, None, None]).sum(dim=1, keepdim=True)
    return x.mean(dim=1, keepdim=True)


def color_jitter(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor,
                 saturation: torch.Tensor) -> torch.Tensor:
    """Scale brightness, contrast (about the image's grey mean) and saturation (about
    its grey image; a no-op for one channel) by the given per-image factors."""
    def f(v):
        return v.to(x.dtype).to(x.device)[:, None, None, None]

    x = x * f(brightness)
    mean = _grey(x).mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * f(contrast) + mean
    if x.shape[1] == 3:
        grey = _grey(x)
        x = (x - grey) * f(saturation) + grey
    return x


def random_jitter(x, g, p: float = 0.8, strength: float = 0.4):
    b = x.shape[0]
    apply = (torch.rand(b, generator=g) < p).to(torch.float64)
    factors = [1 + apply * _uniform(b, -strength, strength, g) for _ in range(3)]
    return color_jitter(x, *factors)


def random_erasing(x, g, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
    """Erase one rectangle per selected image (torchvision's RandomErasing, fixed value);
    for volumes (B, C, D, H, W) one box (:func:`random_erasing_3d`)."""
    if x.dim() == 5:
        return random_erasing_3d(x, g, p=p, scale=scale, value=value)
    b, _, h, w = x.shape
    apply = torch.rand(b, generator=g) < p
    area = _uniform(b, *scale, g) * h * w
    r = torch.exp(_uniform(b, math.log(ratio[0]), math.log(ratio[1]), g))
    eh = torch.sqrt(area * r).round().clamp(1, h).long()
    ew = torch.sqrt(area / r).round().clamp(1, w).long()
    top = (torch.rand(b, generator=g) * (h - eh + 1)).long()
    left = (torch.rand(b, generator=g) * (w - ew + 1)).long()
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    in_r = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_c = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    mask = (in_r[:, :, None] & in_c[:, None, :]) & apply[:, None, None]
    return x.masked_fill(mask[:, None].to(x.device), value)


def random_erasing_3d(x, g, p: float = 0.5, scale=(0.02, 0.33), value=0.0):
    """Erase one box per selected volume: a volume fraction uniform in ``scale``, the side
    ratios log-uniform within a factor of 2 of a cube, at a uniform position."""
    b, _, *dims = x.shape
    apply = torch.rand(b, generator=g) < p
    frac = _uniform(b, *scale, g)
    logr = _uniform(3 * b, -math.log(2), math.log(2), g).reshape(b, 3)
    logr = logr - logr.mean(dim=1, keepdim=True)  # product of the ratios is 1
    sizes = torch.tensor(dims, dtype=torch.float64)
    side = (frac[:, None] ** (1 / 3) * torch.exp(logr) * sizes).round()
    side = torch.minimum(side.clamp(min=1), sizes).long()
    start = (torch.rand(b, 3, generator=g) * (sizes - side + 1)).long()
    mask = apply[:, None, None, None].clone()
    for axis, n in enumerate(dims):
        r = torch.arange(n)[None, :]
        inside = (r >= start[:, axis, None]) & (r < (start[:, axis] + side[:, axis])[:, None])
        shape = [b, 1, 1, 1]
        shape[axis + 1] = n
        mask = mask & inside.reshape(shape)
    return x.masked_fill(mask[:, None].to(x.device), value)


def hflip(x, g, p: float = 0.5):
    """Flip the last axis (left-right) of each selected image or volume."""
    apply = (torch.rand(x.shape[0], generator=g) < p).to(x.device)
    return torch.where(apply.reshape(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


def random_small_crop(x, g):
    """A mild random resized crop (70-100% of the area, aspect 0.9-1.1): keeps a glyph's
    orientation and most of its shape, for contrastive baselines on rotation tasks."""
    return random_resized_crop(x, g, scale=(0.7, 1.0), ratio=(0.9, 1.1))


AUGMENTATIONS: dict[str, Augment] = {
    "rotation": random_rotation,
    "crop": random_resized_crop,
    "smallcrop": random_small_crop,
    "blur": random_blur,
    "jitter": random_jitter,
    "erasing": random_erasing,
    "flip": hflip,
}


#: The augmentations that also take volumes (B, C, D, H, W).
VOLUME_AUGMENTATIONS = ("erasing", "flip")


def check_augment_for(names: Sequence[str], spatial_dims: int) -> None:
    """Refuse 2D-only augmentations for volumes (``spatial_dims`` 3)."""
    if spatial_dims == 3:
        bad = [n for n in names if n not in VOLUME_AUGMENTATIONS]
        if bad:
            raise InputError(f"--augment {','.join(names)}: {', '.join(bad)} take 2D images "
                             f"only; for 3D volumes use {' or '.join(VOLUME_AUGMENTATIONS)}")


def build_augment(names: Sequence[str]) -> Augment:
    """Compose named augmentations, applied in the order given (``[]`` is the identity)."""
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise InputError(f"unknown augmentation {', '.join(unknown)}; expected some of "
                         f"{', '.join(AUGMENTATIONS)}")
    ops = [AUGMENTATIONS[n] for n in names]

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for op in ops:
            x = op(x, g)
        return x

    return augment


class ChannelNorm:
    """``(x - mean) / sd`` per channel: the normalization a run stores in its config.json and
    applies to every image, in training (after augmentation) and at export."""

    def __init__(self, mean, sd, device: str | torch.device = "cpu"):
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, -1).to(device)
        self.sd = torch.tensor(sd, dtype=torch.float32).reshape(1, -1).to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, *[1] * (x.dim() - 2))  # images (B, C, H, W) and volumes
        return (x - self.mean.reshape(shape)) / self.sd.reshape(shape)
