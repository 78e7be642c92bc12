"""Image and genotype encoders in plain torch.

Image side: a *backbone* maps ``(B, C, H, W)`` to features ``(B, F)``; a *projector*
(``Linear -> ReLU -> Linear``, ContIG/SimCLR) maps features to the embedding ``(B, D)``.

- :class:`SmallCNN`: five 3x3 conv layers for 28x28 inputs (EMNIST); F = 128.
- :class:`ResNet`: ResNet-18 (basic blocks, F = 512) and ResNet-50 (bottlenecks,
  F = 2048), He et al. 2016 layouts, any channel count.
- :class:`ResNet3D`: GIM's 3D residual MRI encoder (32/64/128 channels, two strided
  downsamplings); F = 128.
- :class:`FrozenBackbone`: a user's saved model (``torch.export`` ``.pt2`` or TorchScript),
  frozen, followed by attention pooling over its tokens (Ilse et al. 2018), as in
  GEMCONT's fundus configuration.

Genotype side:

- :class:`LinearGenotype`: GEMCONT's linear projector, initialized from the panel's
  effect sizes (see its docstring for the D outputs); with one input it is the PRS
  baseline's encoder.
- :class:`MLPGenotype`: ContIG's H1 (``Linear(M, 2048) -> ReLU -> BatchNorm``) followed
  by a projector.

Decoder (VAE, autoencoder): :class:`Decoder`, a linear layer then stride-2 transposed
convolutions back to (C, H, W).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from gwasrep.errors import InputError

__all__ = ["VOLUME_ENCODERS", "AttentionPool", "Decoder", "FrozenBackbone", "LinearGenotype",
           "MLPGenotype", "ResNet", "ResNet3D", "SmallCNN", "build_backbone", "load_backbone",
           "projector"]


def projector(n_in: int, n_out: int, hidden: int | None = None) -> nn.Sequential:
    """Two-layer MLP head: ``Linear(n_in, hidden) -> ReLU -> Linear(hidden, n_out)``."""
    hidden = hidden or n_in
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_out))


def _conv_bn(c_in: int, c_out: int, stride: int = 1, k: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """``[conv32 x2, pool, conv64 x2, pool, conv128, global average]``: F = 128."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn(in_channels, 32), *_conv_bn(32, 32), nn.MaxPool2d(2),
            *_conv_bn(32, 64), *_conv_bn(64, 64), nn.MaxPool2d(2),
            *_conv_bn(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = 128

    def forward(self, x):
        return self.features(x)


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, c_in, width, stride):
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(*_conv_bn(c_in, width, stride), nn.Conv2d(width, c_out, 3, 1, 1,
                                  bias=False), nn.BatchNorm2d(c_out))
        self.skip = _shortcut(c_in, c_out, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class _Bottleneck(_Basic):
    expansion = 4

    def __init__(self, c_in, width, stride):
        nn.Module.__init__(self)
        c_out = width * self.expansion
        self.body = nn.Sequential(*_conv_bn(c_in, width, 1, k=1), *_conv_bn(width, width, stride),
                                  nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = _shortcut(c_in, c_out, stride)


def _shortcut(c_in, c_out, stride) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(c_out))


RESNET_LAYOUTS = {18: (_Basic, (2, 2, 2, 2)), 50: (_Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    """ResNet-18/50: 7x7/2 stem, 3x3/2 max pool, four stages, global average pool."""

    def __init__(self, depth: int = 18, in_channels: int = 3):
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise InputError(f"ResNet depth: expected one of {sorted(RESNET_LAYOUTS)}; "
                             f"found {depth}")
        block, counts = RESNET_LAYOUTS[depth]
        layers: list[nn.Module] = [*_conv_bn(in_channels, 64, stride=2, k=7),
                                   nn.MaxPool2d(3, stride=2, padding=1)]
        c = 64
        for stage, n in enumerate(counts):
            width = 64 * 2 ** stage
            for i in range(n):
                layers.append(block(c, width, 2 if (i == 0 and stage > 0) else 1))
                c = width * block.expansion
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.out_features = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.features(x)


class AttentionPool(nn.Module):
    """Attention pooling (Ilse et al. 2018): ``sum_t a_t h_t``, ``a = softmax(w^T tanh(V h))``."""

    def __init__(self, n_features: int, hidden: int = 128):
        super().__init__()
        self.V = nn.Linear(n_features, hidden)
        self.w = nn.Linear(hidden, 1, bias=False)

    def forward(self, h):  # (B, T, F) -> (B, F)
        a = torch.softmax(self.w(torch.tanh(self.V(h))), dim=1)
        return (a * h).sum(dim=1)


def load_backbone(path: str) -> nn.Module:
    """A saved feature extractor: ``.pt2`` (``torch.export.save``, with a dynamic batch
    dimension) or TorchScript (any other suffix; deprecated by torch, still read)."""
    if str(path).endswith(".pt2"):
        return torch.export.load(str(path)).module()
    import warnings

    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; users still have it
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


class FrozenBackbone(nn.Module):
    """A frozen, user-supplied feature extractor with attention pooling over its tokens.

    The saved model (:func:`load_backbone`) must map ``(B, C, H, W)`` to ``(B, T, F)``
    tokens or ``(B, F)`` features (then pooling is the identity). Its weights never
    train and are not saved with the run (the run's config records its path); only the
    pooling and the projector after it learn.
    """

    def __init__(self, path: str, in_channels: int, image_size: tuple[int, int]):
        super().__init__()
        self.path = str(path)
        if not Path(self.path).is_file():
            raise InputError(f"image encoder backbone {self.path}: file not found")
        # Held in a list, outside the parameter tree: neither trained nor saved.
        self._script = [load_backbone(self.path)]
        for p in self._script[0].parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            probe = self._script[0](torch.zeros(2, in_channels, *image_size))
        if probe.dim() not in (2, 3):
            raise InputError(f"{path}: the backbone must return (B, F) or (B, T, F); "
                             f"found shape {tuple(probe.shape)}")
        self.out_features = int(probe.shape[-1])
        self.pool = AttentionPool(self.out_features) if probe.dim() == 3 else None

    def _apply(self, fn, recurse=True):  # keep the script on the same device as the rest
        self._script[0] = self._script[0]._apply(fn)
        return super()._apply(fn, recurse)

    def forward(self, x):
        with torch.no_grad():
            h = self._script[0](x)
        return self.pool(h) if self.pool is not None else h


class _Residual3d(nn.Module):
    """``conv3-BN-ReLU-conv3-BN`` plus the (projected) input, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(c_out), nn.ReLU(inplace=True),
            nn.Conv3d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out))
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class ResNet3D(nn.Module):
    """GIM's MRI encoder (Xie et al., App. B): residual blocks of 32, 64 and 128 channels
    with two strided (2x) downsamplings, global average pooling: F = 128.

    ``conv3(C -> 32)-BN-ReLU``, a 32-channel block, a 64-channel block with stride 2, a
    128-channel block with stride 2, then the mean over the volume.
    """

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm3d(32),
            nn.ReLU(inplace=True), _Residual3d(32, 32), _Residual3d(32, 64, stride=2),
            _Residual3d(64, 128, stride=2), nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.out_features = 128
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.features(x)


#: Image encoders that take volumes (B, C, D, H, W).
VOLUME_ENCODERS = ("resnet3d",)


def build_backbone(name: str, in_channels: int, image_size: tuple[int, ...]) -> nn.Module:
    """``cnn`` (SmallCNN), ``resnet18``, ``resnet50``, ``resnet3d`` (volumes) or
    ``backbone:PATH`` (frozen)."""
    volume = len(image_size) == 3
    if volume and name not in VOLUME_ENCODERS:
        raise InputError(f"--encoder {name}: the images are 3D volumes {tuple(image_size)}; "
                         f"expected {' or '.join(VOLUME_ENCODERS)}")
    if name == "resnet3d":
        if not volume:
            raise InputError(f"--encoder resnet3d takes 3D volumes; the images are 2D "
                             f"{tuple(image_size)}")
        return ResNet3D(in_channels)
    if name == "cnn":
        return SmallCNN(in_channels)
    if name in ("resnet18", "resnet50"):
        return ResNet(int(name[6:]), in_channels)
    if name.startswith(("backbone:", "torchscript:")):
        return FrozenBackbone(name.split(":", 1)[1], in_channels, image_size)
    raise InputError(f"image encoder: expected cnn, resnet18, resnet50, resnet3d or "
                     f"backbone:PATH; found {name!r}")


class LinearGenotype(nn.Module):
    """GEMCONT's linear genotype projector ``W x + b``, W of shape (D, M).

    Initialization from the panel's effect sizes ``beta`` (one per input variant):
    every weight of variant j is proportional to ``beta_j``.

    - Output 0 is the polygenic score: ``W[0, j] = beta_j``.
    - Outputs 1..D-1 are random signed combinations of the same weights:
      ``W[d, j] = beta_j * e_dj``, ``e_dj ~ N(0, 1)`` from the seeded generator.

    Copying ``beta`` into all D rows (the literal reading of the paper) would start
    every output as the same score, so the unit-normalized genotype embedding would
    take only two values; the random signs keep the rank full while variants with no
    external effect still start at zero. ``b = 0``.
    """

    def __init__(self, n_variants: int, dim: int, beta: torch.Tensor | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.linear = nn.Linear(n_variants, dim)
        if beta is not None:
            beta = torch.as_tensor(beta, dtype=torch.float32).reshape(-1)
            if beta.numel() != n_variants:
                raise InputError(f"expected {n_variants} effect sizes; found {beta.numel()}")
            e = torch.randn(dim, n_variants, generator=generator)
            e[0] = 1.0
            with torch.no_grad():
                self.linear.weight.copy_(beta[None, :] * e)
                self.linear.bias.zero_()

    def forward(self, x):
        return self.linear(x)


class MLPGenotype(nn.Module):
    """ContIG's H1 encoder ``Linear(M, hidden) -> ReLU -> BatchNorm`` then a projector to D."""

    def __init__(self, n_variants: int, dim: int, hidden: int = 2048):
        super().__init__()
        self.h1 = nn.Sequential(nn.Linear(n_variants, hidden), nn.ReLU(inplace=True),
                                nn.BatchNorm1d(hidden))
        self.head = projector(hidden, dim, hidden=min(hidden, 512))

    def forward(self, x):
        return self.head(self.h1(x))


class Decoder(nn.Module):
    """``Linear -> (64, h0, w0)`` then stride-2 transposed convolutions up to (C, H, W);
    for volumes (C, D, H, W) the same in 3D (32 channels, at most 4 upsamplings)."""

    def __init__(self, dim: int, shape: tuple[int, ...]):
        super().__init__()
        c, *spatial = shape
        volume = len(spatial) == 3
        conv_t, bn, conv = ((nn.ConvTranspose3d, nn.BatchNorm3d, nn.Conv3d) if volume else
                            (nn.ConvTranspose2d, nn.BatchNorm2d, nn.Conv2d))
        self.width = 32 if volume else 64
        self.n_up = max(1, min(4 if volume else 5, int(math.log2(max(min(spatial), 8) / 4))))
        self.start = tuple(math.ceil(n / 2 ** self.n_up) for n in spatial)
        self.h0, self.w0 = self.start[-2], self.start[-1]
        self.shape = tuple(shape)
        self.fc = nn.Linear(dim, self.width * math.prod(self.start))
        layers, ch = [], self.width
        for _ in range(self.n_up):
            nxt = max(16 if not volume else 8, ch // 2)
            layers += [conv_t(ch, nxt, 4, stride=2, padding=1), bn(nxt), nn.ReLU(inplace=True)]
            ch = nxt
        layers.append(conv(ch, c, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        x = self.net(functional.relu(self.fc(z)).reshape(-1, self.width, *self.start))
        return x[(slice(None), slice(None), *(slice(0, n) for n in self.shape[1:]))]
