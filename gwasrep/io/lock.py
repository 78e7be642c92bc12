"""An exclusive lock on an output folder: two runs never write into one folder at once.

The lock is a file ``.gwasrep.lock`` created with ``O_EXCL`` and holding the owner's
process ID and host. A lock left by a process that no longer runs on this host is stale
and taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from gwasrep.errors import InputError

__all__ = ["LOCK_NAME", "output_lock"]

LOCK_NAME = ".gwasrep.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, *, option: str = "--out") -> Iterator[Path]:
    """Hold ``folder``'s lock for the duration of the block.

    The folder is created if needed, and removed again if the block leaves it empty (a run
    that failed before writing anything leaves no folder behind).

    Raises
    ------
    InputError
        If another live process holds it; the message names the process.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                owner = {}
            pid, host = owner.get("pid"), owner.get("host")
            if isinstance(pid, int) and (host != me["host"] or _alive(pid)):
                raise InputError(f"{option} {folder}: another gwasrep run (process {pid} on "
                                 f"{host}) is writing into this folder; wait for it to end or "
                                 "choose another folder") from None
            path.unlink(missing_ok=True)  # stale: its owner is gone
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:  # pragma: no cover - a race lost twice
        raise InputError(f"{option} {folder}: could not take the folder's lock")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
