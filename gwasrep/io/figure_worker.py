"""The process behind :class:`gwasrep.io.figures.FigureWorker` (run with ``-m``).

It imports matplotlib at once, then reads pickled jobs ``(function, args, kwargs)`` from
stdin until EOF, where ``function`` is ``"package.module:name"``, and answers each on
stdout with a pickled ``("ok", result)`` or ``("error", message)``. It exits when its
parent closes stdin (or dies).
"""

from __future__ import annotations

import importlib
import pickle
import signal
import sys
import traceback


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Stopped by its parent: unwind, so that a figure being written leaves no temporary file.
    signal.signal(signal.SIGTERM, _exit)
    try:
        from gwasrep.io.figures import pyplot

        pyplot()
    except Exception:  # pragma: no cover - reported on the first job
        ready = traceback.format_exc()
    else:
        ready = None
    while True:
        try:
            func, args, kwargs = pickle.load(stdin)
        except EOFError:
            return
        try:
            if ready is not None:
                raise RuntimeError(ready)
            module, name = func.split(":")
            reply = ("ok", getattr(importlib.import_module(module), name)(*args, **kwargs))
        except Exception:
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, stdout)
        stdout.flush()


def _exit(signum, frame):
    raise SystemExit(1)


if __name__ == "__main__":
    main()
