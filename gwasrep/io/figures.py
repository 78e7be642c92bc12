"""Figures: matplotlib on the Agg backend, saved atomically as PNG.

matplotlib is imported on first use, so commands that write no figure never load it.
A command that will draw figures at its end can start a :class:`FigureWorker` at its
beginning: the worker process imports matplotlib (about 0.3-0.4 s) on the second core
while the command does its work, and draws the figures it is sent.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

from gwasrep.io.atomic import atomic_path

__all__ = ["FigureWorker", "pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG (temporary file, then rename) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)
    return path


class FigureWorker:
    """Draw figures in a separate process that starts at once and imports matplotlib.

    ``submit("package.module:function", *args)`` queues a call (the arguments are pickled,
    so send arrays rather than tables); :meth:`results` waits for every call and returns
    their results in order. Figures are drawn by the same functions as in-process, so the
    files are the same. If the process cannot start or dies, :meth:`results` draws the
    remaining figures in this process instead; an exception raised by a drawing function
    is raised again here. Use as a context manager: leaving it stops the process.
    """

    def __init__(self) -> None:
        self._jobs: list[tuple[str, tuple, dict]] = []
        self._writer: threading.Thread | None = None
        self._proc = None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "gwasrep.io.figure_worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=dict(os.environ, MPLBACKEND="Agg"))
        except OSError:
            self._proc = None

    def submit(self, func: str, *args, **kwargs) -> None:
        """Queue a call; the arguments are written to the process by a thread, so the
        caller does not wait while the process is still importing matplotlib."""
        self._jobs.append((func, args, kwargs))
        if self._proc is not None:
            data = pickle.dumps((func, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
            previous, stdin = self._writer, self._proc.stdin

            def write() -> None:
                if previous is not None:
                    previous.join()
                try:
                    stdin.write(data)
                    stdin.flush()
                except (OSError, ValueError):  # the process died: results() draws here
                    pass

            self._writer = threading.Thread(target=write, daemon=True)
            self._writer.start()

    def results(self) -> list:
        out = []
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                for _ in self._jobs:
                    status, value = pickle.load(self._proc.stdout)
                    if status != "ok":
                        break
                    out.append(value)
            except (OSError, EOFError, pickle.UnpicklingError):
                pass
            self._stop()
        # What the worker did not draw (it failed to start, died, or a function raised:
        # then the same call here raises the real exception).
        import importlib

        for func, args, kwargs in self._jobs[len(out):]:
            module, name = func.split(":")
            out.append(getattr(importlib.import_module(module), name)(*args, **kwargs))
        self._jobs = []
        return out

    def _stop(self) -> None:
        if self._writer is not None and self._proc is not None:
            if self._writer.is_alive():
                self._proc.terminate()  # unblocks a writer waiting on a full pipe
            self._writer.join()
            self._writer = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()  # the worker unwinds: no temporary file is left
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None and not f.closed:
                    f.close()
            self._proc = None

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, *exc) -> None:
        self._stop()
