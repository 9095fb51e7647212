"""``parallel_map``: run a picklable function over items in worker processes, with a tqdm bar."""
from __future__ import annotations

import multiprocessing as mp
import os


def _context():
    """``fork`` where available (workers start in milliseconds, without re-importing torch)."""
    return mp.get_context("fork" if os.name == "posix" and "fork" in mp.get_all_start_methods()
                          else None)


def _init_worker():
    """Forked workers must not use torch's OpenMP pool inherited from the parent (it deadlocks)."""
    import sys
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def parallel_map(fn, items, workers=2, desc=None, progress=True, chunksize=1, unit="video"):
    """Yield ``fn(item)`` for every item, in completion order, using ``workers`` processes
    (``workers <= 1``: in this process). A tqdm bar counts finished items unless ``progress`` is
    False."""
    from tqdm import tqdm
    items = list(items)
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with _context().Pool(min(workers, len(items)), initializer=_init_worker) as pool:
            for result in pool.imap_unordered(fn, items, chunksize=chunksize):
                yield result
                bar.update()
