"""numba kernels compiled ahead of time, with numba's JIT as the fallback.

Importing numba and loading its cached kernels costs about 0.5-0.9 s per process on a
2-core machine (numba's typing and lowering registries, which import scipy.linalg), more
than the whole work of a small ``gwasrep clump`` or ``assoc``. So the install compiles
the kernels that commands call from Python (each kernel module's ``AOT_SIGNATURES``) into
one extension module, ``gwasrep._aot_kernels``, with ``numba.pycc`` (``setup.py``;
LLVM's SLP vectoriser on, the GIL released as ``nogil=True`` does, code for the
building CPU). Beside it, ``_aot_kernels.json`` lists every compiled variant's argument
types, a digest of the kernel sources and the CPU it was built for.

:func:`kernel` returns a callable for one kernel. Each call takes the compiled variant
whose argument types match exactly (dtype, dimensions, memory layout, writeable arrays;
int, float or bool scalars); for any other arguments, or when the extension is missing,
was built from other sources (an edited kernel in an editable install) or for another
CPU, or ``GWASREP_JIT=1`` is set, it calls the numba dispatcher of the kernel module,
which imports numba then. Both run the same source, so results are identical
(``tests/test_aot.py``); only the start-up differs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import logging
import os
import platform
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["EXTRA_SOURCES", "KERNEL_MODULES", "Kernel", "cpu_id", "fallbacks", "kernel",
           "source_digest", "status"]

#: Modules whose ``AOT_SIGNATURES`` the install compiles.
KERNEL_MODULES = ("gwasrep.io._bed_kernels", "gwasrep.assoc._grm_kernels",
                  "gwasrep.assoc.engine._scan_kernels", "gwasrep.loci._ld_kernels")
#: Further sources whose constants the kernels compile in (part of the digest).
EXTRA_SOURCES = ("gwasrep/io/_bed_codes.py", "gwasrep/assoc/engine/lut.py", "gwasrep/aot.py")
#: The extension module and its manifest, named for this interpreter's ABI like the
#: module itself (``_aot_kernels.cpython-311-x86_64-linux-gnu.json``), so that two Pythons
#: sharing one source tree never pair one's module with the other's manifest.
EXTENSION = "gwasrep._aot_kernels"
MANIFEST = Path(__file__).with_name(
    "_aot_kernels" + importlib.machinery.EXTENSION_SUFFIXES[0].rsplit(".", 1)[0] + ".json")

log = logging.getLogger("gwasrep")
_LOCK = threading.Lock()
_state: dict = {}
_fallbacks: Counter = Counter()


def source_digest(root: Path | None = None) -> str:
    """SHA-256 over the kernel modules and :data:`EXTRA_SOURCES` (paths relative to the
    directory holding the ``gwasrep`` package)."""
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    h = hashlib.sha256()
    files = [m.replace(".", "/") + ".py" for m in KERNEL_MODULES] + list(EXTRA_SOURCES)
    for rel in files:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def cpu_id() -> str:
    """The machine and the CPU's feature flags (code built for one CPU may not run on another);
    ``<machine>:unknown`` where /proc/cpuinfo lists none (then the JIT runs)."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    if not flags:  # pragma: no cover - no /proc/cpuinfo flags (macOS, Windows, some CPUs)
        return platform.machine() + ":unknown"
    return platform.machine() + ":" + hashlib.sha256(flags.encode()).hexdigest()[:16]


def _load() -> dict:
    """The compiled variants by kernel, or an empty dict and the reason in ``status``."""
    with _LOCK:
        if _state:
            return _state
        variants: dict = {}
        reason = "aot"
        if os.environ.get("GWASREP_JIT", "") not in ("", "0"):
            reason = "jit: GWASREP_JIT is set"
        elif not MANIFEST.is_file():
            reason = "jit: the compiled kernels are not installed"
        else:
            try:
                manifest = json.loads(MANIFEST.read_text())
                if manifest.get("sources") != source_digest():
                    reason = ("jit: the kernel sources changed since the kernels were compiled "
                              "(reinstall gwasrep to compile them again)")
                elif (cpu := cpu_id()) != manifest.get("cpu") or cpu.endswith(":unknown"):
                    reason = ("jit: the compiled kernels were built for another CPU, or this "
                              "one's features cannot be read")
                else:
                    ext = importlib.import_module(EXTENSION)
                    for entry in manifest["kernels"]:
                        fn = getattr(ext, entry["symbol"])
                        key = (entry["module"], entry["name"])
                        specs = tuple(_spec(a) for a in entry["args"])
                        variants.setdefault(key, []).append((specs, fn))
            except (OSError, ValueError, KeyError, ImportError, AttributeError) as exc:
                variants = {}
                reason = f"jit: the compiled kernels could not be loaded ({exc})"
        if reason != "aot":
            log.info("gwasrep kernels: %s", reason)
        _state.update(variants=variants, status=reason)
        return _state


def _spec(arg: list) -> tuple:
    """A manifest argument as matched: arrays carry their numpy dtype (native byte order)."""
    return (arg[0], np.dtype(arg[1]), *arg[2:]) if arg[0] == "array" else tuple(arg)


def status() -> str:
    """``"aot"`` when the compiled kernels are in use, else ``"jit: <why not>"``."""
    return _load()["status"]


def fallbacks() -> Counter:
    """Calls that went to the JIT although compiled kernels are in use, by (kernel, args)."""
    return _fallbacks


def _arg_matches(spec: tuple, arg) -> bool:
    kind = spec[0]
    if kind == "array":
        if type(arg) is not np.ndarray:
            return False
        _, dtype, ndim, layout = spec
        flags = arg.flags
        # dtype equality includes the byte order (a big-endian float64 is not float64).
        return (arg.ndim == ndim and arg.dtype == dtype and flags.writeable
                and flags.aligned
                and (layout == "A" or (layout == "C" and flags.c_contiguous)
                     or (layout == "F" and flags.f_contiguous)))
    # Scalars as numba's JIT would type them (a Python int is int64, a float float64).
    return type(arg) in _SCALARS[kind]


_SCALARS = {"bool": (bool, np.bool_), "int": (int, np.int64), "float": (float, np.float64)}


def _describe(arg) -> str:
    if hasattr(arg, "dtype") and hasattr(arg, "flags"):
        layout = "C" if arg.flags.c_contiguous else "F" if arg.flags.f_contiguous else "A"
        return f"{arg.dtype.name}[{arg.ndim}d,{layout}{'' if arg.flags.writeable else ',ro'}]"
    return type(arg).__name__


class Kernel:
    """One kernel: the compiled variant that fits the arguments, else numba's JIT."""

    def __init__(self, module: str, name: str, jit: str | None = None):
        self.module, self.name, self._jit_name = module, name, jit
        self._variants: list | None = None
        self._jit: Callable | None = None
        self.__name__ = name
        self.__doc__ = f"{module}.{name}, compiled ahead of time (gwasrep.aot)."

    def _jit_kernel(self) -> Callable:
        if self._jit is None:
            mod = importlib.import_module(self.module)
            if self._jit_name:
                self._jit = getattr(mod, self._jit_name)()
            else:
                self._jit = getattr(mod, self.name)
        return self._jit

    def __call__(self, *args):
        variants = self._variants
        if variants is None:
            variants = self._variants = _load()["variants"].get((self.module, self.name), [])
        for specs, fn in variants:
            if len(specs) == len(args) and all(map(_arg_matches, specs, args)):
                return fn(*args)
        if variants:
            key = (self.name, ", ".join(map(_describe, args)))
            if key not in _fallbacks:
                log.info("gwasrep kernels: %s(%s) has no compiled variant; using the JIT", *key)
            _fallbacks[key] += 1
        return self._jit_kernel()(*args)


def kernel(module: str, name: str, *, jit: str | None = None) -> Kernel:
    """The kernel ``name`` of ``module`` (one of :data:`KERNEL_MODULES`).

    ``jit`` names a function of ``module`` returning the JIT dispatcher to fall back on
    (default: the module's attribute ``name``). Nothing is imported until the first call.
    """
    if module not in KERNEL_MODULES:
        raise ValueError(f"{module}: not a kernel module ({', '.join(KERNEL_MODULES)})")
    return Kernel(module, name, jit)
