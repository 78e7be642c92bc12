"""Run sgkit 0.10's REGENIE stages (in its own venv) on arrays from an .npz; write an .npz.

Usage: .sgkit-venv/bin/python tests/reference/tools/sgkit_regenie.py IN.npz OUT.npz

IN holds ``Z`` (N x M standardized genotypes), ``Y`` (N x D traits), ``contigs`` (M, int,
increasing), ``variant_block_sizes``, ``sample_block_sizes`` (the folds, contiguous),
``alphas0`` and ``alphas1`` (the penalties of the two levels). There are no covariates
(the inputs are residualized on them already), so sgkit's ridge is run with an empty
covariate matrix and no intercept.

OUT holds ``base`` (blocks, alphas, N, D: level-0 out-of-fold predictions), ``meta``
(N, D: sgkit's level-1 out-of-fold prediction) and ``loco`` (contigs, N, D). sgkit's
``regenie_transform`` applies the level-1 coefficients, fitted on the standardized level-0
predictions, to the unstandardized ones in its LOCO stage; here ``_stage_3`` is given the
standardized predictions (standardized exactly as ``_stage_2`` does), which is REGENIE's
LOCO prediction.
"""

import sys

import numpy as np


def main() -> None:
    # Imported here: pytest's doctest collection imports this file in the test environment,
    # which has no sgkit.
    import dask
    import dask.array as da
    from sgkit.stats.regenie import _stage_1, _stage_2, _stage_3, index_array_blocks

    dask.config.set(scheduler="synchronous")
    z = np.load(sys.argv[1])
    Z, Y, contigs = z["Z"], z["Y"], z["contigs"]
    vbs, sbs = tuple(int(v) for v in z["variant_block_sizes"]), tuple(
        int(v) for v in z["sample_block_sizes"])
    starts, sizes = index_array_blocks(contigs, int(max(vbs)))
    assert tuple(int(s) for s in sizes) == vbs, (sizes, vbs)
    G = da.asarray(Z).rechunk((sbs, vbs))
    X = da.zeros((Z.shape[0], 0), dtype=Z.dtype).rechunk((sbs, -1))
    Yd = da.asarray(Y).rechunk((sbs, -1))
    YP1 = _stage_1(G, X, Yd, alphas=z["alphas0"])
    B2, YP2 = _stage_2(YP1, X, Yd, alphas=z["alphas1"])
    YP1n = (YP1 - YP1.mean(axis=2, keepdims=True)) / YP1.std(axis=2, keepdims=True)
    YP3 = _stage_3(B2, YP1n, X, Yd, da.asarray(contigs), starts)
    base, meta, loco = dask.compute(YP1, YP2, YP3)
    np.savez(sys.argv[2], base=base, meta=meta, loco=loco)


if __name__ == "__main__":
    main()
