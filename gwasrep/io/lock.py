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


#: Locks this process holds (a lock naming this process's ID but not in here was left by
#: an earlier process that had the same ID, e.g. in a restarted container, and is stale).
_HELD: set[str] = set()


def _write_lock(path: Path, me: dict) -> bool:
    """Create ``path`` holding ``me`` atomically (a reader never sees it half-written);
    False if it exists."""
    tmp = path.with_name(f"{path.name}.{me['pid']}.{os.urandom(4).hex()}.tmp")
    tmp.write_text(json.dumps(me))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: O_EXCL, then the content
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return True
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, *, option: str = "--out") -> Iterator[Path]:
    """Hold ``folder``'s lock for the duration of the block.

    The folder (and any missing parents) is created if needed, and removed again if the
    block leaves it empty (a run that failed before writing anything leaves no folder
    behind).

    Raises
    ------
    InputError
        If ``folder`` is a file, or another live process (or this one, elsewhere) holds it;
        the message names the process.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {folder}: exists and is not a folder")
    created = []  # the folders made here, deepest first
    p = folder.absolute()
    while not p.exists():
        created.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {folder}: cannot create the folder "
                         f"({exc.strerror or exc})") from None
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    key = str(path.absolute())
    try:
        for _ in range(2):
            if _write_lock(path, me):
                break
            try:
                owner = json.loads(path.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                owner = {}
            pid, host = owner.get("pid"), owner.get("host")
            mine = pid == me["pid"] and host == me["host"]
            if isinstance(pid, int) and (host != me["host"] or (mine and key in _HELD)
                                         or (not mine and _alive(pid))):
                who = "this process" if mine else f"process {pid} on {host}"
                raise InputError(f"{option} {folder}: another gwasrep run ({who}) is writing "
                                 "into this folder; wait for it to end or choose another "
                                 "folder") from None
            path.unlink(missing_ok=True)  # stale: its owner is gone
        else:  # pragma: no cover - a race lost twice
            raise InputError(f"{option} {folder}: could not take the folder's lock")
    except BaseException:
        _remove_empty(created)
        raise
    _HELD.add(key)
    try:
        yield path
    finally:
        _HELD.discard(key)
        path.unlink(missing_ok=True)
        _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    for d in created:  # deepest first; stops at the first folder something was written in
        try:
            d.rmdir()
        except OSError:
            break
