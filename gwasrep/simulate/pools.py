"""Image pools for the EMNIST simulation: EMNIST itself, any labelled image stack, or an
embedded stand-in rendered from the fonts matplotlib ships.

- :func:`read_emnist`: the official distribution (``emnist-byclass-{train,test}-
  {images-idx3,labels-idx1}-ubyte[.gz]``, or the same under torchvision's
  ``EMNIST/raw/``). EMNIST stores every image transposed; the reader transposes it back,
  so a glyph is upright before the simulation rotates it.
- :func:`read_image_pool`: an ``.npz`` with ``images`` (N x H x W uint8) and ``labels``
  (N integers), for MedMNIST-style or one's own images.
- :func:`standin_pool`: the 62 EMNIST classes (0-9, A-Z, a-z) at 28 x 28 from 21 font
  faces (DejaVu Sans/Serif/Mono, STIX and Computer Modern, several weights and slants),
  each image with its own random affine (shear, aspect, scale, shift, a few degrees of
  slant), stroke width and elastic jitter, so no two images are alike. Deterministic
  from the seed. It stands in for EMNIST on machines without it: the characters are
  cleaner and less varied than handwriting.

All pools are ``uint8`` arrays of upright images; :func:`stratified_indices` draws a
class-balanced subsample.
"""

from __future__ import annotations

import functools
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from gwasrep.errors import InputError, preview
from gwasrep.io.fingerprint import digest, sha256_file
from gwasrep.io.idx import read_idx

__all__ = ["EMNIST_CLASSES", "EMNIST_URL", "STANDIN_NOTE", "ImagePool", "emnist_source",
           "find_emnist_files", "read_emnist", "read_image_pool", "standin_pool",
           "standin_source", "stratified_indices", "warp_batch"]

#: byclass labels 0-61: the digits, then the upper-case, then the lower-case letters.
EMNIST_CLASSES = [*"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]
EMNIST_URL = "https://www.nist.gov/itl/products-and-services/emnist-dataset"
_EMNIST_NAMES = {(part, kind): f"emnist-{{split}}-{part}-{kind}-ubyte"
                 for part in ("train", "test") for kind in ("images-idx3", "labels-idx1")}
#: Font files of matplotlib's data folder used by the stand-in.
STANDIN_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf")


#: What every run on the stand-in says (and records).
STANDIN_NOTE = ("no --emnist-dir or --image-pool: using the embedded stand-in of EMNIST "
                "(rendered characters, cleaner than handwriting). For the paper's benchmark "
                f"download EMNIST ({EMNIST_URL}, the gzip archive) and pass --emnist-dir")


def emnist_source(directory: str | os.PathLike, split: str = "byclass") -> str:
    """EMNIST's description: the folder, and a fingerprint of its content (the two label
    files' bytes and the image files' sizes), so that data simulated from another copy or
    a changed file are never reused."""
    files = find_emnist_files(directory, split)
    parts = [sha256_file(files[(part, "labels-idx1")]) for part in ("train", "test")]
    parts += [files[(part, "images-idx3")].stat().st_size for part in ("train", "test")]
    return f"EMNIST {split} ({Path(directory).resolve()}; content {digest(parts)[:12]})"


def standin_source(seed: int, n: int) -> str:
    """The stand-in's description; it names the seed and the size, which both fix its
    images (so data simulated from different stand-ins are never mixed up)."""
    return (f"stand-in: {n:,} images of the 62 EMNIST classes rendered from "
            f"{len(STANDIN_FONTS)} matplotlib font faces with random affine, stroke and "
            f"elastic jitter (seed {seed}); not EMNIST")


@dataclass
class ImagePool:
    """Upright greyscale images with class labels."""

    #: (n, H, W) uint8.
    images: np.ndarray
    #: (n,) int64 class of each image, in 0..len(classes)-1.
    labels: np.ndarray
    #: Name of each class (a character for EMNIST).
    classes: list[str]
    #: Where the images come from (recorded with every result).
    source: str
    #: True for the embedded stand-in (not EMNIST).
    standin: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        assert self.images.ndim == 3, self.images.shape
        assert self.images.dtype == np.uint8, self.images.dtype
        assert self.labels.shape == (self.images.shape[0],), self.labels.shape

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])


# --------------------------------------------------------------------------------------
# EMNIST and other pools on disk


def find_emnist_files(directory: str | os.PathLike, split: str = "byclass"
                      ) -> dict[tuple[str, str], Path]:
    """The four IDX files of ``split`` in ``directory`` (or its ``EMNIST/raw``, ``raw`` or
    ``gzip`` subfolder), gzip-compressed or not.

    Raises
    ------
    InputError
        If any file is missing; the message lists the IDX files that were found.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"--emnist-dir {root}: not a folder")
    folders = [root, root / "EMNIST" / "raw", root / "raw", root / "gzip"]
    found: dict[tuple[str, str], Path] = {}
    for key, pattern in _EMNIST_NAMES.items():
        name = pattern.format(split=split)
        for folder in folders:
            hit = next((folder / (name + ext) for ext in (".gz", "") if
                        (folder / (name + ext)).is_file()), None)
            if hit is not None:
                found[key] = hit
                break
    missing = [_EMNIST_NAMES[k].format(split=split) for k in _EMNIST_NAMES if k not in found]
    if missing:
        seen = sorted({p.name for f in folders if f.is_dir() for p in f.iterdir()
                       if "ubyte" in p.name})
        raise InputError(f"--emnist-dir {root}: expected the EMNIST {split} IDX files "
                         f"({', '.join(m + '[.gz]' for m in missing)} missing); found "
                         f"{preview(seen, 6) if seen else 'no IDX files'} (EMNIST: {EMNIST_URL})")
    return found


def read_emnist(directory: str | os.PathLike, split: str = "byclass") -> ImagePool:
    """EMNIST's train and test images of ``split`` as one upright pool (814,255 images for
    byclass; 640 MB of uint8)."""
    files = find_emnist_files(directory, split)
    images, labels = [], []
    for part in ("train", "test"):
        x = read_idx(files[(part, "images-idx3")], ndim=3)
        y = read_idx(files[(part, "labels-idx1")], ndim=1)
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise InputError(f"{files[(part, 'images-idx3')]}: expected uint8 images and labels")
        if len(x) != len(y):
            raise InputError(f"{files[(part, 'images-idx3')]}: {len(x):,} images but "
                             f"{len(y):,} labels in {files[(part, 'labels-idx1')].name}")
        images.append(np.ascontiguousarray(x.transpose(0, 2, 1)))  # EMNIST is stored transposed
        labels.append(y.astype(np.int64))
    y = np.concatenate(labels)
    classes = EMNIST_CLASSES if split == "byclass" else [str(k) for k in range(int(y.max()) + 1)]
    if y.max() >= len(classes):
        raise InputError(f"{files[('train', 'labels-idx1')]}: label {int(y.max())} outside the "
                         f"{len(classes)} classes of EMNIST {split}")
    return ImagePool(images=np.concatenate(images), labels=y, classes=list(classes),
                     source=emnist_source(directory, split))


def read_image_pool(path: str | os.PathLike) -> ImagePool:
    """An ``.npz`` with ``images`` (N x H x W uint8, upright) and ``labels`` (N integers)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--image-pool {path}: file not found")
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if not magic.startswith(b"PK"):
        kind = "a single .npy array" if magic == b"\x93NUMPY" else f"bytes {magic!r}"
        raise InputError(f"--image-pool {path}: expected an .npz archive (np.savez) with arrays "
                         f"'images' and 'labels'; found {kind}")
    try:
        z = np.load(path, allow_pickle=False)
        with z:
            keys = set(z.files)
            if not {"images", "labels"} <= keys:
                raise InputError(f"--image-pool {path}: expected arrays 'images' and 'labels'; "
                                 f"found {preview(sorted(keys))}")
            images, labels = z["images"], z["labels"]
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"--image-pool {path}: not a readable .npz ({exc})") from None
    if images.ndim != 3 or images.dtype != np.uint8:
        raise InputError(f"--image-pool {path}: 'images' must be N x H x W uint8; found "
                         f"{images.dtype} of shape {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"--image-pool {path}: 'labels' must be {len(images):,} integers; "
                         f"found {labels.dtype} of shape {labels.shape}")
    uniq, codes = np.unique(labels, return_inverse=True)
    return ImagePool(images=np.ascontiguousarray(images), labels=codes.astype(np.int64),
                     classes=[str(v) for v in uniq],
                     source=f"image pool {path.resolve()} (sha256 {sha256_file(path)[:12]})")


def stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` distinct positions spread as evenly as possible over the classes (a class
    short of images gives its share to the others), in random order.

    ``exclude`` (positions) are never drawn.
    """
    labels = np.asarray(labels)
    avail = np.ones(labels.size, dtype=bool)
    if exclude is not None:
        avail[np.asarray(exclude, dtype=np.int64)] = False
    if n > int(avail.sum()):
        raise InputError(f"the image pool has {int(avail.sum()):,} images available; "
                         f"{n:,} were asked for")
    by_class = [rng.permutation(np.flatnonzero(avail & (labels == k)))
                for k in np.unique(labels)]
    take = np.zeros(len(by_class), dtype=np.int64)
    left = n
    while left > 0:  # water-filling: equal shares, capped by what each class has
        room = np.array([len(c) for c in by_class]) - take
        open_ = np.flatnonzero(room > 0)
        share = max(1, left // len(open_))
        for k in open_:
            add = min(share, room[k], left)
            take[k] += add
            left -= add
            if left == 0:
                break
    picked = np.concatenate([c[:t] for c, t in zip(by_class, take, strict=True)])
    return rng.permutation(picked)


# --------------------------------------------------------------------------------------
# Geometry


def warp_batch(images: np.ndarray, *, degrees=None, matrices=None, displacement=None,
               order: int = 1) -> np.ndarray:
    """Resample a stack of images about their centres (bilinear by default, zero outside).

    Parameters
    ----------
    images : ndarray of shape (n, H, W), float
    degrees : ndarray of shape (n,), optional
        Counter-clockwise rotation of each image (as displayed, y down).
    matrices : ndarray of shape (n, 2, 2), optional
        Instead of ``degrees``: output pixel ``o`` samples the input at
        ``M (o - c) + c`` in (row, col) coordinates.
    displacement : ndarray of shape (n, 2, H, W), optional
        Added to the sampling coordinates (an elastic field, in pixels).
    """
    x = np.asarray(images, dtype=np.float64)
    n, H, W = x.shape
    if degrees is not None:
        a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
        # Rotating the picture by +a counter-clockwise with rows pointing down: output
        # (r, c) samples the input at R(a) applied to (r - cr, c - cc).
        matrices = np.stack([np.stack([np.cos(a), np.sin(a)], -1),
                             np.stack([-np.sin(a), np.cos(a)], -1)], 1)
    if matrices is None:
        matrices = np.broadcast_to(np.eye(2), (n, 2, 2))
    cr, cc = (H - 1) / 2, (W - 1) / 2
    rr, ccs = np.mgrid[0:H, 0:W].astype(np.float64)
    dr, dc = rr - cr, ccs - cc
    src_r = matrices[:, 0, 0, None, None] * dr + matrices[:, 0, 1, None, None] * dc + cr
    src_c = matrices[:, 1, 0, None, None] * dr + matrices[:, 1, 1, None, None] * dc + cc
    if displacement is not None:
        src_r = src_r + displacement[:, 0]
        src_c = src_c + displacement[:, 1]
    idx = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_r.shape)
    return ndimage.map_coordinates(x, np.stack([idx, src_r, src_c]), order=order,
                                   mode="constant", cval=0.0)


# --------------------------------------------------------------------------------------
# The stand-in


@functools.lru_cache(maxsize=2)
def _glyph_masters(size: int) -> np.ndarray:
    """(n_fonts, 62, size, size) float in [0, 1]: each character rendered by Agg, cropped to
    its ink, scaled so its longer side is 0.7 * size, and centred on its centre of mass
    (MNIST's normalisation)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    render = 96
    fig = Figure(figsize=(1, 1), dpi=render)
    canvas = FigureCanvasAgg(fig)
    fig.patch.set_facecolor("black")
    txt = fig.text(0.5, 0.5, "", color="white", ha="center", va="center", size=44)
    box = 0.7 * size
    out = np.zeros((len(STANDIN_FONTS), len(EMNIST_CLASSES), size, size))
    for f, name in enumerate(STANDIN_FONTS):
        txt.set_fontproperties(FontProperties(fname=str(font_dir / name), size=44))
        for k, ch in enumerate(EMNIST_CLASSES):
            txt.set_text(ch)
            canvas.draw()
            a = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float64) / 255.0
            rows, cols = np.flatnonzero(a.max(1) > 0.1), np.flatnonzero(a.max(0) > 0.1)
            a = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            z = box / max(a.shape)
            a = np.clip(ndimage.zoom(a, z, order=1, prefilter=False), 0, 1)
            canvas_img = np.zeros((size, size))
            r0, c0 = (size - a.shape[0]) // 2, (size - a.shape[1]) // 2
            canvas_img[r0:r0 + a.shape[0], c0:c0 + a.shape[1]] = a
            com = ndimage.center_of_mass(canvas_img)
            out[f, k] = ndimage.shift(canvas_img, ((size - 1) / 2 - com[0],
                                                   (size - 1) / 2 - com[1]), order=1)
    return np.clip(out, 0, 1)


def standin_pool(n: int, *, seed: int = 0, size: int = 28, chunk: int = 4096) -> ImagePool:
    """``n`` stand-in images, the 62 classes as balanced as ``n`` allows (see the module
    docstring). The same ``n`` and seed give the same images."""
    if n < 1:
        raise InputError(f"the stand-in pool needs at least 1 image; asked for {n}")
    rng = np.random.default_rng([seed, 62])
    hi = 2 * size  # the jitter is applied at twice the resolution, then averaged down
    masters = _glyph_masters(hi)  # read only: the fancy index below copies
    labels = np.resize(np.arange(len(EMNIST_CLASSES)), n)[rng.permutation(n)]
    fonts = rng.integers(0, len(STANDIN_FONTS), n)
    images = np.empty((n, size, size), dtype=np.uint8)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        crng = np.random.default_rng([seed, 62, lo])
        x = masters[fonts[lo:lo + m], labels[lo:lo + m]]
        # Stroke width: a third thinner, a third as drawn, a third bolder.
        op = crng.integers(0, 3, m)
        if (op == 0).any():
            x[op == 0] = ndimage.grey_erosion(x[op == 0], size=(1, 3, 3))
        if (op == 2).any():
            x[op == 2] = ndimage.grey_dilation(x[op == 2], size=(1, 3, 3))
        # Affine: slant (+-6 degrees), shear, aspect and scale, shift; elastic field.
        t = np.deg2rad(crng.uniform(-6, 6, m))
        sh = crng.uniform(-0.2, 0.2, m)
        sx, sy = crng.uniform(0.85, 1.15, m), crng.uniform(0.85, 1.15, m)
        rot = np.stack([np.stack([np.cos(t), np.sin(t)], -1),
                        np.stack([-np.sin(t), np.cos(t)], -1)], 1)
        shear = np.zeros((m, 2, 2))
        shear[:, 0, 0] = 1 / sy
        shear[:, 1, 1] = 1 / sx
        shear[:, 1, 0] = sh
        M = rot @ shear
        field_ = ndimage.gaussian_filter(crng.standard_normal((m, 2, hi, hi)),
                                         sigma=(0, 0, 0.12 * hi, 0.12 * hi))
        field_ *= 0.03 * hi / field_.std()  # smooth displacements of ~1/30 of the width
        shift = crng.uniform(-0.06 * hi, 0.06 * hi, (m, 2))
        field_ += shift[:, :, None, None]
        y = warp_batch(x, matrices=M, displacement=field_)
        y = y.reshape(m, size, 2, size, 2).mean(axis=(2, 4))
        y /= np.maximum(y.max(axis=(1, 2), keepdims=True), 1e-6)  # full contrast, as EMNIST
        images[lo:lo + m] = np.clip(np.round(255 * y), 0, 255).astype(np.uint8)
    return ImagePool(images=images, labels=labels.astype(np.int64), classes=list(EMNIST_CLASSES),
                     source=standin_source(seed, n), standin=True, notes=[STANDIN_NOTE])
