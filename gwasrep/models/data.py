"""Training data of the trait generators: images, panel genotypes, targets and splits.

File formats are in ``data_specs/images.md``; the panel is ``data_specs/panel.md``.

- :func:`read_images`: an image manifest (Parquet/CSV: ``sample_id``, ``path`` to a
  PNG/JPEG/NPY file, one row per image, several rows per sample allowed) or one
  ``.npz`` (``images`` + ``sample_id``) / ``.npy`` (plus an ID list) stack.
- :func:`read_panel_genotypes`: the panel variants' dosages, aligned to the panel's A1.
- :func:`prepare_data`: matches images, genotypes and targets by sample, and splits the
  samples into train / validation (/ test) with no individual in two splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional

from gwasrep.assoc.genotypes import center_dosages
from gwasrep.errors import InputError, preview
from gwasrep.io.plink import open_plink, read_dosages
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import SampleKeys, read_id_list, read_table
from gwasrep.models.genetics import match_to_bim

__all__ = ["ImageSource", "TrainData", "channel_stats", "prepare_data", "random_split",
           "read_iids", "read_images", "read_panel_genotypes"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".nii", ".nii.gz")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _npy_layout(shape: tuple[int, ...]) -> str:
    """How a per-file .npy array is read: ``hw`` (H, W), ``hwc`` (H, W, 1|3), ``dhw`` a
    single-channel volume, ``cdhw`` a volume with channels first, or ``odd``."""
    if len(shape) == 2:
        return "hw"
    if len(shape) == 3:
        return "hwc" if shape[-1] in (1, 3) else "dhw"
    return "cdhw" if len(shape) == 4 else "odd"


def _as_chw(a: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C), (D, H, W) or (C, D, H, W) -> (C, H, W) or (C, D, H, W)."""
    layout = _npy_layout(a.shape)
    if layout in ("hw", "dhw"):
        return a[None]
    if layout == "hwc":
        return np.moveaxis(a, -1, 0)
    return a


def _to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return a.astype(np.float32)


def _nifti(path: Path):
    try:
        import nibabel
    except ImportError:  # pragma: no cover - part of the torch extra
        raise InputError(f"{path}: reading NIfTI needs nibabel (pip install "
                         "'gwasrep[torch]')") from None
    return nibabel.load(str(path))


def _read_file(path: Path) -> np.ndarray:
    """One image as (C, H, W), or a volume as (C, D, H, W), float32 (8/16-bit integers
    scaled to [0, 1]; NIfTI intensities as stored, scaled by the header's slope)."""
    suffix = _suffix(path)
    if suffix == ".npy":
        return _to_float(_as_chw(np.load(path, allow_pickle=False)))
    if suffix in (".nii", ".nii.gz"):
        a = np.asarray(_nifti(path).get_fdata(dtype=np.float32))
        return a[None] if a.ndim == 3 else np.moveaxis(a, -1, 0)  # 4D: channels last
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "RGB", "I;16"):
            im = im.convert("RGB" if im.mode in ("RGBA", "P", "CMYK", "YCbCr") else "L")
        return _to_float(_as_chw(np.asarray(im)))


def _file_shape(path: Path) -> tuple[int, ...]:
    """(C, H, W) or (C, D, H, W) from the file header, without decoding the pixels."""
    suffix = _suffix(path)
    if suffix in (".nii", ".nii.gz"):
        shape = tuple(int(v) for v in _nifti(path).shape)
        if len(shape) == 3:
            return (1, *shape)
        if len(shape) == 4:
            return (shape[3], *shape[:3])
        return (-1, *shape)
    if suffix == ".npy":
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        layout = _npy_layout(shape)
        if layout == "dhw":
            return (1, *shape)
        if layout == "cdhw":
            return tuple(shape)
    else:
        from PIL import Image

        with Image.open(path) as im:
            c = 1 if im.mode in ("L", "I;16", "I", "F", "1") else 3
            shape = (im.height, im.width) if c == 1 else (im.height, im.width, c)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3 and shape[2] in (1, 3):
        return (shape[2], shape[0], shape[1])
    return (-1, *shape[:2])  # odd: reported by the caller


@dataclass
class ImageSource:
    """Where each image is and which sample it belongs to.

    Exactly one of ``paths`` (one file per image) or ``array`` (a stack, possibly
    memory-mapped: (n_images, H, W[, C]) channels-last images, (n_images, D, H, W)
    single-channel volumes or (n_images, C, D, H, W)) is set.
    """

    #: Sample ID (IID) of each image, shape (n_images,).
    sample_ids: np.ndarray
    #: (C, H, W) of the images as stored, or (C, D, H, W) of volumes.
    shape: tuple[int, ...]
    paths: list[Path] | None = None
    array: np.ndarray | None = None
    channels_last: bool = False
    #: The array is a stack of single-channel volumes (n, D, H, W).
    volume_stack: bool = False
    #: Resize every image to (H, W) (bilinear, antialiased) or volume to (D, H, W)
    #: (trilinear) on load, or None.
    resize: tuple[int, ...] | None = None
    origin: str = ""

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.shape[0], *(self.resize or self.shape[1:]))

    @property
    def spatial_dims(self) -> int:
        """2 for images, 3 for volumes."""
        return len(self.shape) - 1

    def load(self, rows) -> torch.Tensor:
        """Images ``rows`` as a float32 tensor (n, C, H, W), or volumes (n, C, D, H, W)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.array is not None:
            a = np.asarray(self.array[np.sort(rows)] if len(rows) else self.array[:0])
            a = a[np.argsort(np.argsort(rows))]  # back to the requested order
            if self.volume_stack:
                a = a[:, None]
            elif self.channels_last:
                a = np.moveaxis(a, -1, 1) if a.ndim == 4 else a[:, None]
            x = torch.from_numpy(np.ascontiguousarray(_to_float(a)))
        else:
            files = [_read_file(self.paths[r]) for r in rows]
            if self.resize is not None and len({f.shape for f in files}) > 1:
                files = [self._resized(torch.from_numpy(f)[None])[0].numpy() for f in files]
            x = torch.from_numpy(np.stack(files)) if len(rows) else torch.zeros(0, *self.shape)
        return self._resized(x)

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize is None or tuple(x.shape[2:]) == tuple(self.resize):
            return x
        if self.spatial_dims == 3:
            return functional.interpolate(x, size=self.resize, mode="trilinear",
                                          align_corners=False)
        return functional.interpolate(x, size=self.resize, mode="bilinear",
                                      align_corners=False, antialias=True)


def read_images(path: str | os.PathLike, *, ids: str | os.PathLike | None = None,
                image_size: int | None = None) -> ImageSource:
    """Read an image manifest or array and check that every image has the same shape.

    Raises
    ------
    InputError
        Missing files, unreadable or odd-shaped images (the first few are named), a
        manifest without ``sample_id``/``path``, or IDs that do not match the array.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        src = _read_array(path, ids)
        if image_size:
            src.resize = (image_size,) * src.spatial_dims
        return src
    df = read_table(path)
    missing = [c for c in ("sample_id", "path") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: an image manifest needs columns sample_id and path; missing "
                         f"{', '.join(missing)} (found {preview(df.columns, 8)})")
    if df.empty:
        raise InputError(f"{path}: the image manifest has no rows")
    paths = [Path(p) if Path(p).is_absolute() else path.parent / p for p in df["path"].astype(str)]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise InputError(f"{path}: {len(absent):,} of {len(paths):,} image files not found, e.g. "
                         f"{preview(absent, 3)}")
    bad_suffix = [str(p) for p in paths if _suffix(p) not in IMAGE_SUFFIXES]
    if bad_suffix:
        raise InputError(f"{path}: expected PNG, JPEG or NPY images or NIfTI volumes; found "
                         f"{len(bad_suffix):,} other files, e.g. {preview(bad_suffix, 3)}")
    shapes, unreadable = [], []
    for p in paths:
        try:
            shapes.append(_file_shape(p))
        except Exception as exc:  # any decoder error: report the file, not the library
            shapes.append(None)
            unreadable.append(f"{p} ({str(exc).splitlines()[0][:80]})")
    if unreadable:
        raise InputError(f"{path}: {len(unreadable):,} unreadable images, e.g. "
                         f"{preview(unreadable, 3)}")
    shape = _check_shapes(shapes, [str(p) for p in paths], image_size, path)
    resize = (image_size,) * (len(shape) - 1) if image_size else None
    return ImageSource(sample_ids=df["sample_id"].astype(str).to_numpy(), shape=shape,
                       paths=paths, resize=resize, origin=str(path))


def _check_shapes(shapes, names, resize, path) -> tuple[int, ...]:
    """The common (C, H, W) or (C, D, H, W); with ``resize`` only the channel count and
    the number of axes must agree."""
    key = [(s[0], len(s)) if resize else s for s in shapes]
    values, counts = np.unique(np.array([str(k) for k in key]), return_counts=True)
    common_key = values[np.argmax(counts)]
    odd = [f"{n} {shapes[i]}" for i, n in enumerate(names) if str(key[i]) != common_key]
    common = shapes[[str(k) for k in key].index(common_key)]
    if common[0] == -1:
        odd = [f"{n} {shapes[i]}" for i, n in enumerate(names)]
    if odd:
        also = " (with --image-size: the same channel count)" if resize else ""
        if len(common) == 4:
            raise InputError(f"{path}: expected every volume to have the shape (C, D, H, W) = "
                             f"{common}{also}; found {len(odd):,} volumes of other shapes, e.g. "
                             f"{preview(odd, 3)}")
        raise InputError(f"{path}: expected every image to have the shape (C, H, W) = {common} "
                         f"with 1 or 3 channels{also}; found {len(odd):,} odd images, e.g. "
                         f"{preview(odd, 3)}")
    return tuple(int(v) for v in common)


def _read_array(path: Path, ids) -> ImageSource:
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files or ("sample_id" not in z.files and ids is None):
                raise InputError(f"{path}: an .npz needs arrays 'images' and 'sample_id'; found "
                                 f"{', '.join(z.files)}")
            arr = z["images"]
            sid = z["sample_id"].astype(str) if "sample_id" in z.files else None
    else:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        sid = None
    if ids is not None:
        sid = read_iids(ids)
    if sid is None:
        raise InputError(f"{path}: an .npy image stack needs its sample IDs (--image-ids: one "
                         "IID per line, in the order of the images)")
    if arr.ndim not in (3, 4, 5):
        raise InputError(f"{path}: expected images of shape (N, H, W) or (N, H, W, C) with "
                         f"C = 1 or 3, or volumes (N, D, H, W) or (N, C, D, H, W); found "
                         f"{arr.shape}")
    if len(sid) != arr.shape[0]:
        raise InputError(f"{path}: {arr.shape[0]:,} images but {len(sid):,} sample IDs")
    if arr.ndim == 5:  # (N, C, D, H, W) volumes
        return ImageSource(sample_ids=np.asarray(sid), shape=tuple(arr.shape[1:]), array=arr,
                           origin=str(path))
    if arr.ndim == 4 and arr.shape[-1] not in (1, 3):  # (N, D, H, W) volumes
        return ImageSource(sample_ids=np.asarray(sid), shape=(1, *arr.shape[1:]), array=arr,
                           volume_stack=True, origin=str(path))
    c = 1 if arr.ndim == 3 else arr.shape[-1]
    return ImageSource(sample_ids=np.asarray(sid), shape=(c, arr.shape[1], arr.shape[2]),
                       array=arr, channels_last=True, origin=str(path))


def read_panel_genotypes(bed, panel, fam_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    list[str], list[str]]:
    """Dosages of the panel's A1 for the samples ``fam_idx``, and the panel's BETA.

    Panel variants are matched to the .bim by ID. A panel A1 equal to the .bim's A2
    counts the other allele (dosage ``2 - d``); variants whose alleles differ, or that
    are not in the .bim, are dropped and counted. Missing calls become the variant's
    mean; dosages are then centred, so the linear projector's first output is the
    centred polygenic score.

    Returns ``(X (n, M) float32, beta (M,), variant IDs, notes)``.
    """
    fs = open_plink(bed) if not hasattr(bed, "bim") else bed
    tab = read_table(panel) if not isinstance(panel, pd.DataFrame) else panel
    need = [c for c in ("ID", "A1", "BETA") if c not in tab.columns]
    if need:
        raise InputError(f"{panel}: a panel needs columns ID, A1 and BETA; missing "
                         f"{', '.join(need)}")
    ids = tab["ID"].astype(str)
    m = match_to_bim(fs, ids, tab["A1"])
    notes = []
    n_absent, n_allele = m.n_absent, m.n_mismatch
    if n_absent:
        notes.append(f"{n_absent:,} of {len(tab):,} panel variants are not in the .bim (or "
                     f"have repeated IDs there) and are dropped, e.g. "
                     f"{preview(m.absent_examples, 3)}")
    if n_allele:
        notes.append(f"{n_allele:,} panel variants have an A1 that is neither .bim allele and "
                     "are dropped")
    if len(m.rows) == 0:
        raise InputError(f"{panel}: none of its {len(tab):,} variants is usable in {fs.bed_path} "
                         f"({n_absent:,} not in the .bim, {n_allele:,} with other alleles); e.g. "
                         f"panel {preview(ids, 3)} vs .bim {preview(fs.bim['ID'], 3)}")
    vidx = m.bim_idx
    X = read_dosages(fs, vidx, fam_idx, dtype=np.float32)
    X[:, m.flip] = 2.0 - X[:, m.flip]
    X = center_dosages(X, len(fam_idx), dtype=np.float32).Gc
    beta = tab["BETA"].to_numpy(dtype=np.float32)[m.rows]
    if not np.isfinite(beta).all():
        raise InputError(f"{panel}: BETA has {int((~np.isfinite(beta)).sum())} missing or "
                         "infinite values")
    return X.astype(np.float32), beta, list(ids.iloc[m.rows]), notes


def random_split(ids: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint random subsets of ``ids``; the first name gets whatever the others leave.

    ``random_split(ids, {"train": 0, "val": 0.1, "test": 0.2}, seed)``: 10 % validation,
    20 % test, the rest training. The same seed and IDs give the same split.
    """
    ids = np.sort(np.asarray(ids).astype(str))
    perm = np.random.default_rng(seed).permutation(len(ids))
    names = list(fractions)
    out, start = {}, 0
    for name in names[1:]:
        k = int(round(fractions[name] * len(ids)))
        out[name] = ids[perm[start:start + k]]
        start += k
    out[names[0]] = ids[perm[start:]]
    return {n: np.sort(out[n]) for n in names}


@dataclass
class TrainData:
    """Images, genotypes and targets of the used samples, and the splits.

    Sample ``i`` (of ``sample_ids``) has images ``image_rows[i]`` in ``images``,
    genotypes ``genotypes[i]`` and target ``target[i]``.
    """

    images: ImageSource
    sample_ids: np.ndarray
    image_rows: list[np.ndarray]
    #: Positions in ``sample_ids`` of each split (``train``, ``val``, maybe ``test``).
    splits: dict[str, np.ndarray]
    genotypes: np.ndarray | None = None
    beta: np.ndarray | None = None
    variant_ids: list[str] = field(default_factory=list)
    target: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: Named genetic inputs (ContIG's modalities, GIM/MRM's SNP sequence), built by
    #: :mod:`gwasrep.models.genetics`; row i is sample i.
    genetics: object | None = None

    @property
    def n_variants(self) -> int:
        if self.genotypes is None and self.genetics is not None:
            return self.genetics.n_variants
        return 0 if self.genotypes is None else self.genotypes.shape[1]


def read_iids(path) -> np.ndarray:
    """The IIDs of a sample list (IID, or FID IID, per line): images are keyed by IID."""
    return np.array([k.split("\t")[-1] for k in read_id_list(path).keys])


def image_rows_by_sample(images: ImageSource, sample_ids: np.ndarray) -> list[np.ndarray]:
    """Rows of ``images`` for each sample (in ``sample_ids`` order)."""
    groups = pd.Series(np.arange(len(images.sample_ids))).groupby(images.sample_ids).indices
    return [np.asarray(groups[s], dtype=np.int64) for s in sample_ids]


def prepare_data(images: ImageSource, *, bed=None, panel=None, split=None, val=None,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                 target=None, target_col: str | None = None, genetics=None) -> TrainData:
    """Match samples across the images, the .bed and a target table, and split them.

    ``split`` (an ID file) lists the training samples; the validation samples come from
    ``val`` or are a seeded ``val_fraction`` of them. Without ``split`` the shared
    samples are split at random into train / ``val_fraction`` / ``test_fraction``.

    ``genetics(fileset, fam_idx) -> GeneticInputs`` builds named genetic inputs
    (:mod:`gwasrep.models.genetics`) for the samples with images and genotypes instead of
    the panel's dosages; samples it drops (``keep``, ContIG's inner mode) are dropped
    before the split.
    """
    notes: list[str] = []
    img_ids = pd.unique(images.sample_ids)
    ids = np.asarray(img_ids)
    genotypes = beta = None
    variant_ids: list[str] = []
    if bed is not None:
        fs = open_plink(bed)
        al = align_samples(fs.fam, {"images": SampleKeys(keys=ids.astype(str), paired=False)})
        ids = ids[al.rows["images"]]
        if len(ids) < len(img_ids):
            notes.append(f"{len(ids):,} of the {len(img_ids):,} samples with images have "
                         f"genotypes ({len(fs.fam):,} in the .fam)")
        if genetics is not None:
            built = genetics(fs, al.fam_idx)
            notes += built.notes
            if built.keep is not None:
                ids = ids[built.keep]
                built = built.subset(built.keep)
            genetics = built
        elif panel is None:
            raise InputError("--bed needs --panel: the genotype input is the panel's variants")
        else:
            genotypes, beta, variant_ids, gnotes = read_panel_genotypes(fs, panel, al.fam_idx)
            notes += gnotes
    tgt = None
    if target is not None:
        df = read_table(target)
        if "sample_id" not in df.columns or target_col not in df.columns:
            raise InputError(f"{target}: expected columns sample_id and {target_col!r}; found "
                             f"{preview(df.columns, 8)}")
        t = df.dropna(subset=[target_col])
        t = t.set_index(t["sample_id"].astype(str))
        t = t[~t.index.duplicated(keep="first")]
        keep = np.isin(ids, t.index.to_numpy())
        if not keep.any():
            raise InputError(f"{target}: none of the {len(ids):,} samples with images has a "
                             f"{target_col!r} value (e.g. {preview(ids, 3)} vs "
                             f"{preview(t.index, 3)})")
        if not keep.all():
            notes.append(f"{int((~keep).sum()):,} samples have no {target_col!r} and are dropped")
        ids = ids[keep]
        genotypes = genotypes[keep] if genotypes is not None else None
        genetics = genetics.subset(keep) if genetics is not None else None
        tgt = t.loc[ids, target_col].to_numpy()
    pos = pd.Index(ids)
    if split is not None:
        train_ids = read_iids(split)
        val_ids = read_iids(val) if val is not None else None
        if val_ids is not None:
            both = np.intersect1d(train_ids, val_ids)
            if len(both):
                raise InputError(f"{len(both):,} individuals are in both {split} and {val}, e.g. "
                                 f"{preview(both, 3)}; splits must be disjoint")
        train_ids = train_ids[pos.get_indexer(train_ids) >= 0]
        if val_ids is None:
            parts = random_split(train_ids, {"train": 0, "val": val_fraction}, seed)
        else:
            parts = {"train": train_ids, "val": val_ids[pos.get_indexer(val_ids) >= 0]}
    else:
        parts = random_split(ids, {"train": 0, "val": val_fraction, "test": test_fraction}, seed)
    for name in ("train", "val"):
        if len(parts[name]) == 0:
            src = {"train": split, "val": val}.get(name)
            raise InputError(f"the {name} split is empty: {len(ids):,} samples have images"
                             f"{' and genotypes' if bed is not None else ''}"
                             + (f", none of them listed in {src}" if src is not None else
                                f"; {name} fraction of them rounds to 0"))
    splits = {k: np.sort(pos.get_indexer(v)) for k, v in parts.items()}
    return TrainData(images=images, sample_ids=ids, image_rows=image_rows_by_sample(images, ids),
                     splits=splits, genotypes=genotypes, beta=beta,
                     variant_ids=variant_ids or ([] if genetics is None else genetics.ids),
                     target=tgt, notes=notes, genetics=genetics)


def channel_stats(data: TrainData, limit: int = 2048) -> tuple[list[float], list[float]]:
    """Per-channel mean and sd of the first image of up to ``limit`` training samples."""
    pos = data.splits["train"][:limit]
    rows = np.array([data.image_rows[p][0] for p in pos])
    if data.images.spatial_dims == 2:
        x = data.images.load(rows).to(torch.float64)
        sd = x.std(dim=(0, 2, 3))
        return x.mean(dim=(0, 2, 3)).tolist(), torch.where(sd > 0, sd,
                                                          torch.ones_like(sd)).tolist()
    # Volumes: 2,048 of them do not fit in memory at once; sums over chunks of 16.
    c = data.images.shape[0]
    n, s1, s2 = 0, torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64)
    for start in range(0, len(rows), 16):
        x = data.images.load(rows[start:start + 16]).to(torch.float64)
        x = x.transpose(0, 1).reshape(c, -1)
        n += x.shape[1]
        s1 += x.sum(dim=1)
        s2 += (x * x).sum(dim=1)
    mean = s1 / n
    sd = torch.sqrt(torch.clamp((s2 - n * mean * mean) / max(n - 1, 1), min=0))
    return mean.tolist(), torch.where(sd > 0, sd, torch.ones_like(sd)).tolist()
