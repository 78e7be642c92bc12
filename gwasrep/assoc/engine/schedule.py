"""Scheduling: blocks of variants, and the executors that map
:func:`gwasrep.assoc.engine.scan.scan_block` over them.

Both executors yield ``(block_number, result)`` as blocks finish, in any order; the
engine checkpoints each result as it arrives and writes them in block order.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

from gwasrep.assoc.engine.scan import ScanState, scan_block
from gwasrep.errors import GwasrepError

__all__ = ["make_blocks", "run_dask", "run_local"]


def make_blocks(variant_idx: np.ndarray, block_size: int,
                group: np.ndarray | None) -> list[tuple[int, np.ndarray]]:
    """Consecutive blocks of at most ``block_size`` variants that never span two LMM groups."""
    labels = np.zeros(variant_idx.size, dtype=np.int64) if group is None else group[variant_idx]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], variant_idx.size]
    blocks = []
    for a, b in zip(starts, ends, strict=True):
        for lo in range(a, b, block_size):
            blocks.append((len(blocks), variant_idx[lo:min(b, lo + block_size)]))
    return blocks


def run_local(state: ScanState, blocks: Sequence[tuple[int, np.ndarray]], *,
              threads: int = 2, task: Callable = scan_block,
              blas_bound: bool | None = None, one_blas_thread: bool = False
              ) -> Iterator[tuple[int, object]]:
    """Map ``task(state, variant_idx)`` (default: the scan) over blocks on local threads
    (the numba kernels and BLAS release the GIL).

    At most ``2 * threads`` blocks are in flight, so memory stays bounded by
    the block size. An LMM scan is BLAS products (the rotation ``U^T G``), as is a
    ridge level-0 block (``blas_bound=True``): BLAS threads are capped at
    ``cores // threads`` meanwhile, so that the workers do not oversubscribe the cores
    (2 workers x 2 BLAS threads on 2 cores were 15 % slower). ``one_blas_thread``: one
    BLAS thread whatever ``threads`` (a BLAS result can depend on its thread count in the
    last bits, and the ridge's blocks must not depend on the executor).
    """
    if blas_bound is None:
        blas_bound = bool(getattr(state, "lmm", ()))
    with contextlib.ExitStack() as stack:
        if one_blas_thread or (blas_bound and threads > 1):
            from threadpoolctl import threadpool_limits

            n = 1 if one_blas_thread else max(1, (os.cpu_count() or 1) // threads)
            stack.enter_context(threadpool_limits(n, user_api="blas"))
        yield from _run_threads(state, blocks, threads, task)


def _run_threads(state: ScanState, blocks: Sequence[tuple[int, np.ndarray]],
                 threads: int, task: Callable) -> Iterator[tuple[int, object]]:
    todo = deque(blocks)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as ex:
        running = {}
        while todo or running:
            while todo and len(running) < 2 * max(1, threads):
                i, idx = todo.popleft()
                running[ex.submit(task, state, idx)] = i
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: running[f]):
                yield running.pop(fut), fut.result()


def run_dask(state: ScanState, blocks: Sequence[tuple[int, np.ndarray]], *,
             scheduler: str, task: Callable = scan_block,
             one_blas_thread: bool = False) -> Iterator[tuple[int, object]]:
    """Map ``task(state, variant_idx)`` (default: the scan) over blocks on an existing
    dask.distributed cluster.

    The scan state is broadcast once; each task carries only its variant
    indices and the worker reads that block from the .bed itself, so the
    workers must see the .bed at the same path. ``one_blas_thread``: every worker's BLAS
    is set to one thread first (and stays so; dask runs one task per worker thread).
    """
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - depends on the environment
        raise GwasrepError("--dask-scheduler needs dask.distributed: "
                           "pip install 'gwasrep[dask]'") from None
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise GwasrepError(f"could not reach the dask scheduler at {scheduler}: {exc}") from None
    with client:
        if one_blas_thread:
            client.run(_one_blas_thread)
        shared = client.scatter(state, broadcast=True)
        futures = {client.submit(task, shared, idx, pure=False): i for i, idx in blocks}
        for fut in as_completed(futures):
            i = futures.pop(fut)
            yield i, fut.result()
            fut.release()


def _one_blas_thread() -> None:
    """Set this process's BLAS libraries to one thread (run on each dask worker)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
