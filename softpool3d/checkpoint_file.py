"""Reading a checkpoint file, verified before a byte of it is used: the zip CRC of every record,
then ``torch.load(weights_only=True)`` (a checkpoint cannot run code); ``CheckpointError`` names
the file and what is wrong with it. Below the models and the engine, which both load through it."""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch

from ._errors import short_error

__all__ = ["CheckpointError", "check_crcs", "load", "load_weights_only"]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; ``.path`` names it, ``.unsafe`` is True when it holds
    Python objects (code) rather than corrupt data, ``.corrupt`` when its bytes are damaged
    (truncated, a CRC mismatch), so that an older copy may serve instead."""

    def __init__(self, path: str, reason: str, unsafe: bool = False, corrupt: bool = True):
        self.path, self.reason, self.unsafe = path, reason, unsafe
        self.corrupt = corrupt and not unsafe
        super().__init__(f"{path}: {reason}")


def check_crcs(path: str, tensors: bool = True) -> None:
    """Raise CheckpointError (corrupt) unless every record of the zip archive ``path`` matches
    the CRC its writer stored (``torch.save`` writes one per record; ``torch.load`` does not
    check them). Reads the whole file once; ``tensors=False`` skips the tensor records (their
    ``data/`` entries) and reads only the small ones."""
    bad = None
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not tensors and "/data/" in f"/{info.filename}":
                    continue
                try:
                    with z.open(info) as f:
                        while f.read(1 << 20):
                            pass
                except zipfile.BadZipFile:  # what a CRC mismatch raises
                    bad = info.filename
                    break
    except Exception as e:  # BadZipFile, OSError, zlib.error, EOFError ...
        raise CheckpointError(path, f"truncated or corrupt checkpoint ({short_error(e)})") from None
    if bad is not None:
        raise CheckpointError(path, f"corrupt checkpoint: the record {bad!r} does not match "
                              "the CRC written with it (the file was damaged after it was "
                              "written)")


def load(path: str, map_location="cpu", mmap: bool = False) -> Any:
    """The verified contents of ``path``: its zip CRCs are checked (:func:`check_crcs`), then
    ``torch.load(weights_only=True)``. CheckpointError (naming ``path``) when the file holds code,
    is truncated or damaged, or is a folder; FileNotFoundError when it does not exist. A file in
    torch's legacy (pre-zip) format has no CRCs to check and is loaded as it is."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(path, "is a folder, not a checkpoint file", corrupt=False)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if zipfile.is_zipfile(path):
        check_crcs(path)
    return load_weights_only(path, map_location, mmap)


def load_weights_only(path: str, map_location="cpu", mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` of ``path`` without the CRC check (for callers that
    checked them already); CheckpointError naming ``path`` when it holds code or does not load."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text:
            detail = next((line.strip() for line in text.splitlines()
                           if "GLOBAL" in line or "Unsupported" in line), "")
            raise CheckpointError(path, "refused to load: it holds Python objects, not only "
                                  "tensors and plain containers (torch.load(weights_only=True) "
                                  "stopped at them), and loading it could run code "
                                  f"({detail or 'weights_only load failed'}). Only load "
                                  "checkpoints written by this package or by a source you trust "
                                  "(then extract the weights yourself)", unsafe=True) from None
        raise CheckpointError(path, f"corrupt checkpoint ({short_error(e)})") from None
    except Exception as e:  # truncated zip, not a checkpoint at all
        raise CheckpointError(path, f"truncated or corrupt checkpoint ({short_error(e)})") from None
