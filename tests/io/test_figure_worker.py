"""FigureWorker: figures drawn in a separate process are the files drawn in-process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gwasrep.assoc.plots import manhattan_arrays, qq_arrays
from gwasrep.io.figures import FigureWorker


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    chrom = np.repeat(np.array(["1", "2", "10", "X"]), n // 4)
    pos = np.tile(np.arange(n // 4) * 1000 + 1, 4)
    p = rng.uniform(size=n) ** 3
    return chrom, pos, p


def test_worker_draws_the_same_files_as_in_process(tmp_path):
    chrom, pos, p = _data()
    manhattan_arrays(chrom, pos, p, tmp_path / "m_here.png", title="t")
    qq_arrays({"a": p}, {"a": 1.23}, tmp_path / "q_here.png")
    with FigureWorker() as fw:
        assert fw._proc is not None
        fw.submit("gwasrep.assoc.plots:manhattan_arrays", chrom, pos, p, tmp_path / "m.png",
                  title="t")
        fw.submit("gwasrep.assoc.plots:qq_arrays", {"a": p}, {"a": 1.23}, tmp_path / "q.png")
        paths = fw.results()
        assert fw._proc is None  # the process has ended
    assert paths == [tmp_path / "m.png", tmp_path / "q.png"]
    assert (tmp_path / "m.png").read_bytes() == (tmp_path / "m_here.png").read_bytes()
    assert (tmp_path / "q.png").read_bytes() == (tmp_path / "q_here.png").read_bytes()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.png", "m_here.png", "q.png",
                                                         "q_here.png"]


def test_an_error_in_a_figure_is_raised_in_the_caller(tmp_path):
    chrom, pos, p = _data()
    with FigureWorker() as fw:
        fw.submit("gwasrep.assoc.plots:qq_arrays", {"a": p}, {}, tmp_path / "q.png")
        with pytest.raises(KeyError, match="'a'"):
            fw.results()
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_without_a_worker_process_figures_are_drawn_here(tmp_path, monkeypatch):
    chrom, pos, p = _data()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with FigureWorker() as fw:
        assert fw._proc is None
        fw.submit("gwasrep.assoc.plots:manhattan_arrays", chrom, pos, p, tmp_path / "m.png")
        assert fw.results() == [tmp_path / "m.png"]
    manhattan_arrays(chrom, pos, p, tmp_path / "m_here.png")
    assert (tmp_path / "m.png").read_bytes() == (tmp_path / "m_here.png").read_bytes()


def test_a_dead_worker_falls_back_to_drawing_here(tmp_path):
    chrom, pos, p = _data()
    with FigureWorker() as fw:
        fw._proc.kill()
        fw._proc.wait()
        fw.submit("gwasrep.assoc.plots:manhattan_arrays", chrom, pos, p, tmp_path / "m.png")
        assert fw.results() == [tmp_path / "m.png"]
    assert (tmp_path / "m.png").stat().st_size > 10_000
