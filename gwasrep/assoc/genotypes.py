"""Mean imputation of dosage blocks: the one definition every test of a dense block uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gwasrep.errors import InputError

__all__ = ["CenteredDosages", "center_dosages"]


@dataclass
class CenteredDosages:
    """A block of dosages, centred with missing calls set to the variant's mean."""

    #: Centred dosages, 0 where the call was missing, shape (n_samples, m), float64.
    Gc: np.ndarray
    #: Mean A1 dosage over the observed calls, shape (m,); NaN if none was observed.
    mean: np.ndarray
    #: Observed calls per variant, shape (m,), int64.
    obs_ct: np.ndarray

    @property
    def a1_freq(self) -> np.ndarray:
        """A1 allele frequency among the observed calls, shape (m,)."""
        return self.mean / 2

    @property
    def missing_frac(self) -> np.ndarray:
        """Fraction of samples with a missing call, shape (m,)."""
        return 1.0 - self.obs_ct / self.Gc.shape[0]


def center_dosages(G: np.ndarray, n_samples: int, *, dtype=np.float64) -> CenteredDosages:
    """Centre a dense block of A1 dosages, mean-imputing missing calls (NaN).

    Parameters
    ----------
    G : ndarray of shape (n_samples, m) or (n_samples,), float
        A1 dosages; NaN marks a missing call.
    n_samples : int
        Rows expected (the samples of the null model).
    dtype : numpy dtype
        Precision of the arithmetic and of ``Gc`` (float32 halves the memory of a wide
        panel for the trait generators).

    Raises
    ------
    InputError
        If ``G`` does not have one row per sample.
    """
    G = np.asarray(G, dtype=dtype)
    if G.ndim == 1:
        G = G[:, None]
    if G.shape[0] != n_samples:
        raise InputError(f"genotypes have {G.shape[0]} rows, expected {n_samples} "
                         "(one per sample)")
    obs = np.isfinite(G)
    obs_ct = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(obs, G, 0.0).sum(axis=0) / obs_ct).astype(dtype)
    Gc = np.where(obs, G - np.where(obs_ct > 0, mean, 0.0).astype(dtype), dtype(0))
    return CenteredDosages(Gc=Gc, mean=mean, obs_ct=obs_ct.astype(np.int64))
