"""Decoded-frame cache: decode every video of a small dataset once, then serve clips from memory.

``VideoDataset(..., frame_cache=...)`` reads frames from a :class:`FrameCache` instead of decoding
them; the clip sampling and transforms are the same code, and decord's ``get_batch`` returns exact
frames, so a sample is identical with and without the cache (tested).

    frame_cache="memory"        every process decodes the videos into its own RAM
    frame_cache="<folder>"      one uint8 file per video list, memory-mapped (shared by workers,
                                processes and later runs); rebuilt when a video changes
    frame_cache=True / "auto"   the folder ``<dataset root>/.frame_cache`` (``build_dataset``'s
                                root; never a place chosen from the listed paths, which a
                                list could move anywhere)

A folder cache is ``<key>.u8`` (all frames, uint8 ``(T, H, W, 3)`` per video, back to back) plus
``<key>.json`` (offsets, shapes, bad videos). ``key`` hashes every video's path, size and
modification time, so changing, adding or removing a video selects a new file; stale files for the
same list of paths are deleted when the new one is written. Videos that cannot be decoded are
recorded with their reason and raise :class:`~.decode.VideoDecodeError` on use, so the dataset's
bad-video replacement works unchanged. Building shows a tqdm bar.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from softpool3d._files import atomic_path, atomic_write_text

from .decode import VideoDecodeError, as_tensor, open_video

__all__ = ["FrameCache", "as_frame_cache", "auto_folder", "fingerprint", "decode_all"]

FORMAT = 1


def fingerprint(paths: Sequence[str]) -> str:
    """A hash of the paths, sizes and modification times (ns) of ``paths`` (missing: -1)."""
    h = hashlib.sha1(f"frame-cache v{FORMAT}".encode())
    for p in paths:
        try:
            st = os.stat(p)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        h.update(f"\0{os.path.abspath(p)}\0{size}\0{mtime}".encode())
    return h.hexdigest()


def _paths_id(paths: Sequence[str]) -> str:
    return hashlib.sha1("\0".join(os.path.abspath(p) for p in paths).encode()).hexdigest()[:16]


def decode_all(path: str):
    """``(frames uint8 (T, H, W, 3) numpy, None)`` with every frame of ``path``, or
    ``(None, reason)`` when it cannot be decoded."""
    try:
        reader, n = open_video(path)
        try:
            frames = as_tensor(reader.get_batch(list(range(n)))).numpy()  # any decord bridge
        except Exception as e:  # noqa: BLE001 - decord raises several types
            raise VideoDecodeError(path, f"cannot decode all {n} frames ({type(e).__name__})") \
                from None
        finally:
            del reader
        if frames.ndim != 4 or frames.shape[0] != n or frames.shape[-1] != 3:
            raise VideoDecodeError(path, f"decoder returned frames of shape {frames.shape}")
        return np.ascontiguousarray(frames, dtype=np.uint8), None
    except VideoDecodeError as e:
        return None, e.reason


def _decode_job(item):
    index, path = item
    frames, reason = decode_all(path)
    return index, frames, reason


class FrameCache:
    """Every frame of ``len(self)`` videos: ``frames(i, indices)`` -> uint8 tensor
    ``(*indices.shape, H, W, 3)``, ``num_frames(i)``; both raise ``VideoDecodeError`` for a video
    that could not be decoded. Build with :meth:`build` (memory) or :meth:`open` (folder)."""

    def __init__(self, paths: Sequence[str], videos: List[Optional[np.ndarray]],
                 bad: Dict[int, str], file: Optional[str] = None):
        self.paths, self._videos, self.bad, self.file = list(paths), videos, dict(bad), file

    # ------------------------------------------------------------------------------ reading
    def __len__(self):
        return len(self.paths)

    def video(self, i: int) -> np.ndarray:
        """All frames of video ``i`` (a read-only view, uint8 ``(T, H, W, 3)``)."""
        if i in self.bad:
            raise VideoDecodeError(self.paths[i], self.bad[i])
        return self._videos[i]

    def num_frames(self, i: int) -> int:
        return int(self.video(i).shape[0])

    def frames(self, i: int, indices) -> torch.Tensor:
        """Frames ``indices`` (any shape, repeats allowed) of video ``i``, as decord returns them."""
        indices = np.asarray(indices, dtype=np.int64)
        video = self.video(i)
        if indices.size and (indices.min() < 0 or indices.max() >= len(video)):
            raise VideoDecodeError(self.paths[i], f"frames {indices.min()}..{indices.max()} out of "
                                   f"{len(video)} cached")
        return torch.from_numpy(np.ascontiguousarray(video[indices.reshape(-1)])
                                .reshape(*indices.shape, *video.shape[1:]))

    @property
    def nbytes(self) -> int:
        return int(sum(v.nbytes for v in self._videos if v is not None))

    def __getstate__(self):  # spawned workers re-open the memory map instead of copying frames
        state = dict(self.__dict__)
        if self.file is not None:
            state["_videos"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._videos is None:
            self._videos = _map(self.file, self._index_of(self.file))

    @staticmethod
    def _index_of(file):
        with open(Path(file).with_suffix(".json")) as f:
            return json.load(f)

    # ----------------------------------------------------------------------------- building
    @classmethod
    def build(cls, paths: Sequence[str], workers: int = 2, progress: bool = True) -> "FrameCache":
        """Decode every video of ``paths`` into memory."""
        videos: List[Optional[np.ndarray]] = [None] * len(paths)
        bad = {}
        for i, frames, reason in _decode(paths, workers, progress):
            videos[i] = frames
            if reason is not None:
                bad[i] = reason
        return cls(paths, videos, bad)

    @classmethod
    def open(cls, paths: Sequence[str], folder: Union[str, os.PathLike], workers: int = 2,
             progress: bool = True) -> "FrameCache":
        """The cache of ``paths`` in ``folder``: memory-mapped if up to date, else built first."""
        folder = Path(folder)
        key = fingerprint(paths)
        data, meta = folder / f"{key}.u8", folder / f"{key}.json"
        index = _read_json(meta)
        if index is None or not data.is_file() or data.stat().st_size != index.get("bytes"):
            index = _write(paths, folder, key, workers, progress)
        videos = _map(data, index)
        bad = {int(k): v for k, v in index["bad"].items()}
        return cls(paths, videos, bad, file=str(data))


def _decode(paths, workers, progress):
    from .parallel import parallel_map
    yield from parallel_map(_decode_job, list(enumerate(paths)), workers, desc="frame cache",
                            progress=progress, chunksize=4)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write(paths, folder: Path, key: str, workers: int, progress: bool) -> dict:
    """Decode ``paths`` into ``folder/<key>.u8`` + ``.json`` (written atomically); remove stale
    caches of the same path list."""
    offsets, shapes, bad, pos = [None] * len(paths), [None] * len(paths), {}, 0
    with atomic_path(str(folder / f"{key}.u8")) as tmp:
        with open(tmp, "wb") as f:
            for i, frames, reason in _decode(paths, workers, progress):
                if reason is not None:
                    bad[str(i)] = reason
                    continue
                f.write(frames.tobytes())
                offsets[i], shapes[i] = pos, list(frames.shape)
                pos += frames.nbytes
        index = dict(format=FORMAT, paths_id=_paths_id(paths), count=len(paths), bytes=pos,
                     offsets=offsets, shapes=shapes, bad=bad)
        for old in folder.glob("*.json"):  # older caches of the same videos
            if old.stem != key and (_read_json(old) or {}).get("paths_id") == index["paths_id"]:
                old.with_suffix(".u8").unlink(missing_ok=True)
                old.unlink(missing_ok=True)
    atomic_write_text(str(folder / f"{key}.json"), json.dumps(index))
    return index


def _map(data, index) -> List[Optional[np.ndarray]]:
    if index["bytes"] == 0:
        return [None] * index["count"]
    mm = np.memmap(data, dtype=np.uint8, mode="r", shape=(index["bytes"],))
    return [None if off is None else mm[off:off + int(np.prod(shape))].reshape(shape)
            for off, shape in zip(index["offsets"], index["shapes"])]


AUTO_FOLDER = ".frame_cache"


def auto_folder(root: Union[str, os.PathLike]) -> Path:
    """Where ``frame_cache="auto"`` keeps the cache of a dataset rooted at ``root``."""
    return Path(os.path.abspath(root)) / AUTO_FOLDER


def as_frame_cache(spec, paths: Sequence[str], workers: int = 2,
                   progress: bool = True, root: Optional[Union[str, os.PathLike]] = None
                   ) -> Optional[FrameCache]:
    """A :class:`FrameCache` for ``paths`` from a dataset option: None/False (no cache), a
    FrameCache (checked to hold ``paths``), ``"memory"``, True/``"auto"`` (the folder
    :func:`auto_folder` of the dataset ``root``, which must be given), or a folder."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, FrameCache):
        if [os.path.abspath(p) for p in spec.paths] != [os.path.abspath(p) for p in paths]:
            raise ValueError("the frame cache holds other videos than this dataset")
        return spec
    if spec == "memory":
        return FrameCache.build(paths, workers, progress)
    if spec is True or spec == "auto":
        if root is None:
            raise ValueError("frame_cache='auto' is the dataset root's .frame_cache folder: give "
                             "the root (build_dataset does), or name a folder")
        spec = auto_folder(root)
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"frame_cache must be None, 'memory', 'auto' or a folder, got {spec!r}")
    return FrameCache.open(paths, spec, workers, progress)
