"""Build step of the install: gwasrep's numba kernels compiled ahead of time (gwasrep/aot.py).

Everything else about the package is in pyproject.toml. ``build_ext`` compiles the
``AOT_SIGNATURES`` of every module in ``gwasrep.aot.KERNEL_MODULES`` into the extension
module ``gwasrep._aot_kernels`` with ``numba.pycc`` and writes its manifest beside it
(``gwasrep/_aot_kernels.<ABI tag>.json``). The compilation runs in a child process (its own numba
configuration and an empty numba cache) and takes about a minute. If it fails, the
install goes on without the extension: gwasrep then runs the same kernels on numba's JIT,
with about 0.5-0.9 s more start-up per command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

# The child process: import the kernel modules, export one trampoline per signature.
COMPILE = r'''
import importlib, json, sys
from pathlib import Path

import numba.pycc.compiler as pycc_compiler
from numba.core import sigutils, types
from numba.pycc import CC

src, out_dir, ext_name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
sys.path.insert(0, str(src))
from gwasrep import aot


class ReleaseGil(pycc_compiler.Flags):
    """The exported wrappers release the GIL, as the JIT's ``nogil=True`` does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release_gil = True


pycc_compiler.Flags = ReleaseGil


def spec(t):
    if isinstance(t, types.Array):
        return ["array", str(t.dtype), t.ndim, t.layout]
    for kind, ty in (("bool", types.boolean), ("int", types.int64), ("float", types.float64)):
        if t == ty:
            return [kind]
    raise TypeError(f"{t}: AOT scalars are bool, int64 or float64")


def trampoline(fn, n):
    args = ", ".join(f"a{i}" for i in range(n))
    ns = {"fn": fn}
    exec(f"def call({args}):\n    return fn({args})\n", ns)
    return ns["call"]


cc = CC(ext_name.rsplit(".", 1)[1])
cc.output_dir = str(out_dir)
cc.target_cpu = "host"
entries = []
for module in aot.KERNEL_MODULES:
    mod = importlib.import_module(module)
    for name, sigs in mod.AOT_SIGNATURES.items():
        for k, sig in enumerate(sigs):
            args, _ = sigutils.normalize_signature(sig)
            symbol = f"{module.rsplit('.', 1)[1].lstrip('_')}__{name}__{k}"
            cc.export(symbol, sig)(trampoline(getattr(mod, name), len(args)))
            entries.append({"module": module, "name": name, "symbol": symbol,
                            "args": [spec(a) for a in args]})
cc.compile()
manifest = {"sources": aot.source_digest(src), "cpu": aot.cpu_id(), "kernels": entries}
(out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
'''


def _manifest(module: Path) -> Path:
    """``_aot_kernels.cpython-311-x86_64-linux-gnu.so`` -> ``... -gnu.json`` (gwasrep.aot)."""
    return module.with_suffix(".json")


class BuildKernels(build_ext):
    """Compile the kernels with numba.pycc; on failure, warn and install without them."""

    def build_extension(self, ext: Extension) -> None:
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="gwasrep_aot_"))
        env = dict(os.environ, NUMBA_CACHE_DIR=str(work / "numba_cache"),
                   NUMBA_SLP_VECTORIZE="1", PYTHONDONTWRITEBYTECODE="1")
        try:
            print("gwasrep: compiling the numba kernels ahead of time (about a minute)",
                  flush=True)
            subprocess.run([sys.executable, "-c", COMPILE, str(HERE), str(work), ext.name],
                           check=True, env=env, cwd=work)
            built = next(work.glob("_aot_kernels*.so"), None) or next(
                work.glob("_aot_kernels*.pyd"))
            shutil.copyfile(built, target)
            shutil.copyfile(work / "manifest.json", _manifest(target))
        except (subprocess.CalledProcessError, StopIteration, OSError) as exc:
            print(f"gwasrep: WARNING: the kernels were not compiled ahead of time ({exc}); "
                  "gwasrep will compile them with numba's JIT on first use", flush=True)
            for stale in (target, _manifest(target)):
                stale.unlink(missing_ok=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # The manifest travels with the extension: into wheels, and into the source tree for
    # editable installs (setuptools copies only what these report).
    def _manifests(self) -> list[tuple[str, str]]:
        build_py = self.get_finalized_command("build_py")
        pairs = []
        for ext in self.extensions:
            inplace, regular = self._get_inplace_equivalent(build_py, ext)
            pairs.append((str(_manifest(Path(regular))), str(_manifest(Path(inplace)))))
        return pairs

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        if not self.inplace:
            outputs += [regular for regular, _ in self._manifests()]
        return outputs

    def _get_output_mapping(self):
        yield from super()._get_output_mapping()
        if self.inplace:
            yield from self._manifests()

    def copy_extensions_to_source(self) -> None:
        super().copy_extensions_to_source()
        for regular, inplace in self._manifests():
            if os.path.exists(regular):
                self.copy_file(regular, inplace, level=self.verbose)


setup(ext_modules=[Extension("gwasrep._aot_kernels", sources=[], optional=True)],
      cmdclass={"build_ext": BuildKernels})
