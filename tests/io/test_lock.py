"""The output-folder lock: one writer at a time, stale locks taken over, nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from gwasrep.errors import InputError
from gwasrep.io.lock import LOCK_NAME, output_lock


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_one_writer_at_a_time_and_the_lock_is_removed(tmp_path):
    out = tmp_path / "run"
    with output_lock(out) as lock:
        assert json.loads(lock.read_text()) == {"pid": os.getpid(),
                                                "host": socket.gethostname()}
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # no temporary file
        with pytest.raises(InputError, match=r"--out .*run: another gwasrep run \(this "
                                             r"process\) is writing into this folder"):
            with output_lock(out):
                pass
        (out / "result.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]


def test_a_live_owner_blocks_and_a_dead_one_is_taken_over(tmp_path):
    host = socket.gethostname()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tmp_path.joinpath(LOCK_NAME).write_text(json.dumps({"pid": live.pid, "host": host}))
        with pytest.raises(InputError, match=rf"\(process {live.pid} on {host}\)"):
            with output_lock(tmp_path, option="--dir"):
                pass
    finally:
        live.kill()
        live.wait()
    for owner in ({"pid": _dead_pid(), "host": host},
                  {"pid": os.getpid(), "host": host},  # an earlier process with our ID
                  {}, "half-written"):
        tmp_path.joinpath(LOCK_NAME).write_text(owner if isinstance(owner, str)
                                                else json.dumps(owner))
        with output_lock(tmp_path) as lock:
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    tmp_path.joinpath(LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(InputError, match=r"process 1 on elsewhere"):
        with output_lock(tmp_path):
            pass


def test_a_file_is_not_a_folder_and_failures_leave_no_folders(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match=r"--out .*f: exists and is not a folder"):
        with output_lock(tmp_path / "f"):
            pass
    with pytest.raises(RuntimeError):
        with output_lock(tmp_path / "a" / "b" / "c"):
            raise RuntimeError("set-up failed")
    assert not (tmp_path / "a").exists()           # the created parents are gone too
    (tmp_path / "keep").mkdir()
    with output_lock(tmp_path / "keep" / "x" / "y"):
        (tmp_path / "keep" / "x" / "note").write_text("written")
    assert (tmp_path / "keep" / "x" / "note").exists()
    assert not (tmp_path / "keep" / "x" / "y").exists()
