"""The kernels compiled ahead of time (gwasrep.aot) against numba's JIT of the same source.

Every compiled variant in the manifest is called on random inputs beside the JIT dispatcher
and must give identical outputs; the commands' call sites must all hit a compiled variant
(no JIT fallback, numba never imported); and arguments that fit no variant go to the JIT
with the same result. In CI (``CI=true``) the install must have compiled the kernels.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest

from gwasrep import aot
from helpers import IN_CI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:numba.*")


def _manifest() -> list[dict]:
    return json.loads(aot.MANIFEST.read_text())["kernels"] if aot.MANIFEST.is_file() else []


@pytest.fixture(scope="module")
def compiled():
    """The extension module; fails in CI, skips elsewhere, when the install did not build it."""
    state = aot.status()
    if state != "aot":
        if IN_CI:
            pytest.fail(f"the compiled kernels are not in use in CI: {state}")
        pytest.skip(state)
    return importlib.import_module(aot.EXTENSION)


def _packed(rng, m, n, p_missing=0.05):
    codes = rng.choice(np.array([0, 2, 3]), size=(m, 4 * ((n + 3) // 4)))
    codes[rng.random(codes.shape) < p_missing] = 1
    codes[:, n:] = 0
    c4 = codes.reshape(m, -1, 4)
    return (c4[..., 0] | c4[..., 1] << 2 | c4[..., 2] << 4 | c4[..., 3] << 6).astype(np.uint8)


def _decode(rng, spec):
    out = np.full((20, 9), -7.0, dtype=spec[2][1], order="F")
    return (_packed(rng, 9, 41), np.sort(rng.choice(41, size=20, replace=False)), out)


def _center(rng, spec):
    G = rng.choice(np.array([0.0, 1.0, 2.0, np.nan]), size=(30, 14), p=[.3, .4, .2, .1])
    G[:, 6] = np.nan
    # The "A" variant gets a strided view (neither C- nor F-contiguous).
    G = np.asfortranarray(G[:, ::2]) if spec[0][3] == "F" else G[:, ::2]
    return (G, np.empty((30, 7), order="F"), np.empty(7, np.int64), np.empty(7), np.empty(7))


def _encode(rng, spec):
    g = rng.choice(np.array([-1, 0, 1, 2], dtype=np.int8), size=(23, 6))
    g = np.asfortranarray(g) if spec[0][3] == "F" else np.ascontiguousarray(g)
    return (g, np.zeros((6, 6), np.uint8))


def _standardize(rng, spec):
    packed = _packed(rng, 12, 50, p_missing=0.1)
    packed[3] = 0            # monomorphic: not used
    return (packed, rng.permutation(50).astype(np.int64), bool(rng.integers(2)), 0.05, 0.5,
            np.full((50, 12), 9.0, order="F"), np.zeros(12, bool))


def _lut_case(rng):
    from gwasrep.assoc.engine.lut import count_base, new_byte_table

    n_fam, c = 53, 5
    n_pad = 4 * ((n_fam + 3) // 4)
    XT = np.zeros((c, n_pad))
    mask = np.zeros(n_pad)
    used = np.flatnonzero(rng.random(n_fam) < 0.8)
    XT[:, used] = rng.standard_normal((c, used.size))
    mask[used] = 1.0
    return XT, mask, count_base(used.size), new_byte_table(n_pad // 4, c)


def _byte_table(rng, spec):
    from gwasrep.assoc.engine.lut import PATTERN_DOSAGE

    XT, mask, base, table = _lut_case(rng)
    table[:] = np.nan
    return (XT, mask, base, PATTERN_DOSAGE.copy(), table)


def _lut(rng, spec):
    from gwasrep.assoc.engine.lut import lut_inputs

    XT, mask, _, _ = _lut_case(rng)
    table, X, base = lut_inputs(XT, mask, int(mask.sum()))
    m, c = 17, XT.shape[0]
    return (_packed(rng, m, 53), table, X, mask, base, np.empty((m, c)), np.empty(m),
            np.empty(m), np.empty(m), np.empty((m, c)))


def _clump(rng, spec):
    n, m = 60, 40
    packed = _packed(rng, m, n)
    src = np.arange(m, dtype=np.int64)
    dest = rng.permutation(m).astype(np.int64)
    samples = np.sort(rng.choice(n, size=50, replace=False)).astype(np.int64)
    bits = np.zeros((m, 3, 1), np.uint64)
    chrom = np.zeros(m, np.int64)
    chrom[25:] = 1
    pos = np.r_[np.arange(25) * 1000, np.arange(15) * 1000].astype(np.int64)
    is_index = rng.random(m) < 0.3
    order = rng.permutation(np.flatnonzero(is_index)).astype(np.int64)
    return (packed, src, dest, samples, False, bits, chrom, pos, order, is_index, 5000, 0.05,
            bool(rng.integers(2)), np.full(m, -1, np.int64))


def _pair_r2(rng, spec):
    G = rng.choice(np.array([-1, 0, 1, 2], dtype=np.int8), size=(80, 2), p=[.05, .3, .4, .25])
    G[:40, 1] = G[:40, 0]
    return (G[:, 0], G[:, 1], bool(rng.integers(2)))       # strided rows, as loci reads them


CASES = {"decode_dosages": _decode, "center_dense": _center, "encode_bed": _encode,
         "standardize_packed": _standardize, "build_byte_table": _byte_table,
         "packed_crossprod_lut": _lut, "clump_packed": _clump, "pair_r2": _pair_r2}


def _jit(entry):
    mod = importlib.import_module(entry["module"])
    if entry["name"] == "packed_crossprod_lut":
        return mod.compiled()      # the JIT fall-back compiles it with SLP on, as the AOT
    return getattr(mod, entry["name"])


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b or (a != a and b != b)


def test_every_kernel_modules_signatures_are_compiled(compiled):
    """The manifest holds each module's AOT_SIGNATURES, each with an input case below."""
    got = {(e["module"], e["name"]) for e in _manifest()}
    want = {(m, name) for m in aot.KERNEL_MODULES
            for name in importlib.import_module(m).AOT_SIGNATURES}
    assert got == want
    assert {name for _, name in got} == set(CASES)


@pytest.mark.parametrize("entry", _manifest(), ids=lambda e: e["symbol"])
def test_compiled_variant_equals_jit(compiled, entry):
    fn = getattr(compiled, entry["symbol"])
    for seed in range(3):
        args_aot = CASES[entry["name"]](np.random.default_rng(seed), entry["args"])
        args_jit = tuple(a.copy(order="K") if isinstance(a, np.ndarray) else a
                         for a in args_aot)
        # The proxy must pick this very variant for these arguments.
        assert all(map(aot._arg_matches, map(tuple, entry["args"]), args_aot))
        r_aot = fn(*args_aot)
        r_jit = _jit(entry)(*args_jit)
        assert _same(np.asarray(r_aot), np.asarray(r_jit)), (seed, r_aot, r_jit)
        for a, b in zip(args_aot, args_jit, strict=True):
            if isinstance(a, np.ndarray):
                assert _same(a, b), seed


def test_unmatched_arguments_fall_back_to_the_jit(compiled):
    """A C-ordered output has no compiled variant of decode_dosages: the JIT gives the same
    numbers, and the fall-back is counted."""
    from gwasrep.io.plink import decode_dosages

    rng = np.random.default_rng(0)
    packed, idx, out_f = _decode(rng, [None, None, ["array", "float64", 2, "F"]])
    out_c = np.ascontiguousarray(out_f)
    before = sum(aot.fallbacks().values())
    decode_dosages(packed, idx, out_f)
    assert sum(aot.fallbacks().values()) == before
    decode_dosages(packed, idx, out_c)
    assert sum(aot.fallbacks().values()) == before + 1
    np.testing.assert_array_equal(out_c, out_f)
    assert not aot._arg_matches(("array", "float64", 2, "F"), out_c)
    assert not aot._arg_matches(("int",), True)           # numba types a bool as boolean
    assert not aot._arg_matches(("float",), 1)
    assert not aot._arg_matches(("array", "int64", 1, "C"), idx[::2])
    big_endian = out_f.astype(">f8")
    assert not aot._arg_matches(("array", np.dtype("float64"), 2, "A"), big_endian)


def test_commands_run_on_compiled_kernels_without_numba(compiled, tmp_path, small_cohort):
    """assoc (linear, --lmm full, --lmm ridge), grm and clump: every kernel call hits a
    compiled variant, and numba is never imported."""
    c = small_cohort
    out = tmp_path
    code = f"""
import sys
from gwasrep_cli.main import main
base = ['assoc', '--emb', {str(c.emb)!r}, '--bed', {str(c.bed)!r}, '--covar',
        {str(c.covar)!r}, '--quiet', '--no-plots']
runs = [base + ['--out', {str(out / 'lin')!r}],
        base + ['--out', {str(out / 'lmm')!r}, '--lmm', 'full', '--allow-nonconverged'],
        base + ['--out', {str(out / 'ridge')!r}, '--lmm', 'ridge'],
        ['grm', '--bed', {str(c.bed)!r}, '--out', {str(out / 'g')!r}, '--quiet'],
        ['clump', '--sumstats', {str(out / 'lin' / 'sumstats.parquet')!r}, '--bed',
         {str(c.bed)!r}, '--p1', '0.01', '--out', {str(out / 'cl')!r}, '--quiet']]
for r in runs:
    sys.argv = ['gwasrep'] + r
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), (r, e.code)
from gwasrep import aot
print(aot.status(), dict(aot.fallbacks()), 'numba' in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[-2] == "aot {} False", res.stdout + res.stderr
    assert json.loads((out / "lin" / "run.json").read_text())["kernels"] == "aot"


def test_clump_imports_neither_numba_nor_scipy(compiled, tmp_path, small_cohort):
    """`gwasrep clump` runs with numba, scipy and matplotlib unimportable (each would cost
    start-up): the kernel is compiled, pyarrow reads and writes the tables."""
    from gwasrep.assoc.config import AssocConfig
    from gwasrep.assoc.run import run_assoc

    c = small_cohort
    run_assoc(AssocConfig(emb=c.emb, bed=c.bed, out=tmp_path / "a", plots=False,
                          formats=("tsv",)))
    code = f"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('numba', 'scipy', 'matplotlib', 'llvmlite'):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, _Block())
from gwasrep_cli.main import main
sys.argv = ['gwasrep', 'clump', '--sumstats', {str(tmp_path / 'a' / 'sumstats.tsv')!r},
            '--bed', {str(c.bed)!r}, '--p1', '0.01', '--out', {str(tmp_path / 'cl')!r}]
main()
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert "clumps from" in res.stdout
    assert (tmp_path / "cl.clumped").read_text().startswith("       CHR          F        SNP")
