"""Fault injection for training tests: a callback after each checkpoint the trainer writes.

The trainer saves through ``softpool3d.engine.checkpoint.save``; wrapping that function (in this
process, or in a subprocess script run with ``TESTS_DIR`` on its ``PYTHONPATH``:
``import _after_checkpoint``) runs ``callback(epoch, path)`` once the checkpoint of ``epoch``
completed epochs is on disk. The engine carries no hook for it.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def install(callback: Callable[[int, str], None]) -> Callable[[], None]:
    """Wrap ``checkpoint.save`` so that ``callback(epoch, path)`` runs after each save; returns a
    function that restores the original."""
    from softpool3d.engine import checkpoint as ckpt

    original = ckpt.save

    def save(blob, *args, **kwargs):
        path = original(blob, *args, **kwargs)
        callback(blob["epoch"], path)
        return path

    ckpt.save = save
    return lambda: setattr(ckpt, "save", original)


@contextlib.contextmanager
def after_each_checkpoint(callback: Callable[[int, str], None]) -> Iterator[None]:
    """``install(callback)`` for the duration of a ``with`` block."""
    restore = install(callback)
    try:
        yield
    finally:
        restore()
