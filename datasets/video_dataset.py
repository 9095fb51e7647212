"""The one map-style video dataset behind every dataset name: sample indices -> decode -> transform.

A sample is ``dict(video, label, index, skipped, bad)``:
  - train: ``video`` float32 ``(C, T, H, W)``, one random clip;
  - eval: ``video`` float32 ``(V, C, T, H, W)``, ``V = num_clips * num_crops`` views of one video
    (view ``v = clip * num_crops + crop``), so accuracy can be computed per video;
  - SlowFast (``alpha`` set): ``video`` is ``[slow, fast]``, the slow pathway taking ``T // alpha``
    frames of the fast one by the published rule (``sampling.slow_pathway_indices``: T = 32,
    alpha = 4 gives frames 0, 4, 8, 13, 17, 22, 26, 31);
  - ``label``: int, 0-based; ``index``: the dataset index of the video actually returned;
  - ``skipped``: how many bad videos were replaced while producing this sample;
  - ``bad``: those bad videos as a JSON object ``{"path": "reason", ...}`` (``""`` when none; a
    string, which default collation keeps, and JSON, which holds any path: tabs, newlines), so
    the main process learns what its DataLoader workers found (:func:`bad_from_text`).

Bad videos (missing, empty, truncated, not a video, fewer frames than reported) are logged once per
process (path + reason) and replaced by another sample, at most ``max_retries`` times in a row;
``strict=True`` raises :class:`~.decode.VideoDecodeError` instead. A video found bad stays bad:
:meth:`VideoDataset.mark_bad` hands what other workers, ranks or epochs found to this copy (the
training engine does so before each epoch). Videos the annotations list but that are missing on
disk (``records.missing``, see ``annotations.drop_missing``) are reported by :meth:`bad_videos`.

Randomness (clip start, scale, crop, flip, replacement choice) comes from a per-process
``numpy.random.Generator`` seeded from ``(seed, epoch, rank, worker id, torch seed)``; with a seeded
``DataLoader`` (``generator=``, see :func:`loader_seed_kwargs`) or a seeded torch (no workers),
every run yields the same samples.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .decode import VideoDecodeError, check_decoder, get_frames, open_video
from .sampling import eval_clip_indices, slow_pathway_indices, train_clip_indices

log = logging.getLogger("softpool3d.datasets")


class VideoDataset(Dataset):
    """Map-style dataset over ``records`` (``VideoRecord``: path, label).

    Args:
        records: list of ``VideoRecord``; classes: list of class names (label = index).
        mode: ``"train"`` (one random clip) or ``"test"``/``"val"`` (all views).
        transform: ``TrainTransform`` (train) or ``EvalTransform`` (test).
        num_frames, sampling_rate: clip length in frames and the step between them.
        num_clips: clips per video in test mode. alpha: SlowFast speed ratio, or None.
        short: policy for videos shorter than a clip (``"clamp"`` or ``"loop"``, see sampling).
        strict: raise on a bad video instead of replacing it. max_retries: replacements in a row.
        seed: base seed. decode_threads: decoder threads per reader.
        decoder: ``"decord"`` (default) or ``"torchcodec"`` (same frames; see :mod:`.decode`).
        frame_cache: serve decoded frames from a :mod:`.frame_cache` (``"memory"``, ``"auto"``,
            a folder or a ``FrameCache``) instead of decoding each sample; same samples.
        root: the dataset folder, where ``frame_cache="auto"`` keeps its cache.
    """

    def __init__(self, records, classes, *, mode, transform, num_frames=8, sampling_rate=2,
                 num_clips=10, alpha=None, short="clamp", strict=False, max_retries=10, seed=0,
                 decode_threads=1, frame_cache=None, decoder="decord", root=None):
        if mode not in ("train", "test", "val"):
            raise ValueError(f"mode must be 'train', 'test' or 'val', got {mode!r}")
        if not records:
            raise ValueError("dataset has no videos")
        if alpha is not None and (int(alpha) < 1 or num_frames % int(alpha)):
            raise ValueError(f"alpha ({alpha}) must be a positive divisor of num_frames ({num_frames})")
        self.records, self.classes = list(records), list(classes)
        self.mode, self.train = mode, mode == "train"
        self.transform = transform
        self.num_frames, self.sampling_rate, self.num_clips = num_frames, sampling_rate, num_clips
        self.alpha = None if alpha is None else int(alpha)
        self.short, self.strict, self.max_retries = short, strict, max_retries
        check_decoder(decoder)  # early: an unusable decoder is no bad video
        self.seed, self.epoch, self.decode_threads = int(seed), 0, decode_threads
        self.decoder = decoder
        self._rng, self._rng_key = None, None
        self._bad = {}  # index -> reason: found by this process or handed in by mark_bad
        self.missing = {str(p): "missing file (listed in the annotations)"
                        for p in getattr(records, "missing", ())}
        self.frame_cache = None
        if frame_cache is not None and frame_cache is not False:
            from .frame_cache import as_frame_cache
            self.frame_cache = as_frame_cache(frame_cache, [r.path for r in self.records],
                                              root=root)

    # ------------------------------------------------------------------------------ properties
    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def num_views(self):
        """Views per sample: 1 in train mode, ``num_clips * num_crops`` in test mode."""
        return 1 if self.train else self.num_clips * self.transform.num_crops

    @property
    def labels(self):
        return [r.label for r in self.records]

    def __len__(self):
        return len(self.records)

    def set_epoch(self, epoch):
        """Change the random stream (reaches non-persistent workers; persistent workers continue
        their own stream, which differs per epoch anyway)."""
        self.epoch = int(epoch)

    def bad_videos(self):
        """``{path: reason}`` of the bad videos known to this process, listed-but-missing included."""
        return {**self.missing, **{self.records[i].path: r for i, r in self._bad.items()}}

    def mark_bad(self, bad):
        """Treat the videos of ``{path: reason}`` that this dataset holds as bad from now on (workers
        started later inherit it)."""
        if not bad:
            return
        if getattr(self, "_index_of", None) is None:
            self._index_of = {r.path: i for i, r in enumerate(self.records)}
        for path, reason in bad.items():
            i = self._index_of.get(str(path))
            if i is not None:
                self._bad.setdefault(i, reason)

    def __repr__(self):
        return (f"VideoDataset(mode={self.mode}, videos={len(self)}, classes={self.num_classes}, "
                f"frames={self.num_frames}x{self.sampling_rate}, views={self.num_views})")

    # ---------------------------------------------------------------------------------- sample
    def rng(self):
        """This process's generator, seeded from (seed, epoch, rank, worker id, the worker's torch
        seed, or the process's torch seed outside workers); re-created after fork or when the
        epoch changes."""
        info = get_worker_info()
        key = (os.getpid(), self.epoch, info.id if info else -1)
        if self._rng is None or self._rng_key != key:
            dist = torch.distributed
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
            torch_seed = info.seed if info is not None else torch.initial_seed()
            parts = [self.seed, self.epoch, rank, info.id + 1 if info else 0, torch_seed % (1 << 63)]
            self._rng, self._rng_key = np.random.default_rng(parts), key
        return self._rng

    def __getitem__(self, index):
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} videos")
        rng = self.rng()
        skipped, errors, met = 0, [], {}
        current = index
        while True:
            try:
                if current in self._bad:
                    raise VideoDecodeError(self.records[current].path, self._bad[current])
                video = self.load(current, rng)
                break
            except VideoDecodeError as e:
                if self.strict:
                    raise
                if current not in self._bad:
                    self._bad[current] = e.reason
                    log.warning("bad video skipped: %s (%s)", e.path, e.reason)
                met[self.records[current].path] = self._bad[current]
                skipped += 1
                errors.append(str(e))
                if skipped > self.max_retries:
                    raise RuntimeError(f"{skipped} bad videos in a row while loading index {index}; "
                                       "last errors: " + "; ".join(errors[-3:])) from None
                current = self._replacement(index, skipped, rng)
        bad = json.dumps(met) if met else ""
        return dict(video=video, label=self.records[current].label, index=current, skipped=skipped,
                    bad=bad)

    def _replacement(self, index, attempt, rng):
        """Another index: random in train mode, deterministic (a fixed stride) in test mode."""
        n = len(self)
        if n == 1:
            return index
        if self.train:
            return int((index + rng.integers(1, n)) % n)
        j = (index + attempt * (1 + n // 7)) % n
        return j if j != index else (index + 1) % n

    def load(self, index, rng=None):
        """Decode and transform video ``index`` (no replacement); raises VideoDecodeError."""
        rng = rng if rng is not None else self.rng()
        path, cache, reader = self.records[index].path, self.frame_cache, None
        if cache is not None:
            n = cache.num_frames(index)
        else:
            reader, n = open_video(path, self.decode_threads, self.decoder)
        try:
            if self.train:
                idx = train_clip_indices(n, self.num_frames, self.sampling_rate, rng, self.short)
            else:
                idx = eval_clip_indices(n, self.num_frames, self.sampling_rate, self.num_clips,
                                        self.short)
            # uint8 (T, H, W, 3) or (K, T, H, W, 3)
            frames = cache.frames(index, idx) if cache is not None else get_frames(reader, idx, path)
        finally:
            del reader
        video = self.transform(frames, rng) if self.train else self.transform(frames)
        return self.pathways(video)

    def pathways(self, video):
        """``[slow, fast]`` for SlowFast (slow: ``T // alpha`` frames along T, dim -3, chosen by
        :func:`.sampling.slow_pathway_indices`), else ``video`` unchanged."""
        if self.alpha is None:
            return video
        return [video.index_select(-3, slow_pathway_indices(video.shape[-3], self.alpha)), video]


def bad_from_text(text):
    """``{path: reason}`` from a sample's ``bad`` field (``""``: none)."""
    return json.loads(text) if text else {}


def seed_worker(worker_id):
    """``DataLoader(worker_init_fn=seed_worker)``: seed ``random`` and ``numpy`` of a worker from
    the loader's per-worker torch seed (torch is seeded by the loader; the dataset seeds its own
    generator)."""
    import random
    seed = torch.initial_seed() % (1 << 32)
    random.seed(seed)
    np.random.seed(seed)


def loader_seed_kwargs(seed):
    """``DataLoader`` keyword arguments for reproducible loading: ``worker_init_fn`` and a seeded
    ``generator`` (which fixes shuffling and the workers' seeds)."""
    return dict(worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(int(seed)))
