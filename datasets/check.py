"""Scanning videos for problems, in parallel: the library side of ``tools/check_videos.py``."""
from __future__ import annotations

import os
import warnings

from .annotations import VIDEO_EXTENSIONS, MissingVideosWarning
from .decode import probe_video
from .parallel import parallel_map
from .registry import DATASETS, load_records

MISSING = "missing file (listed in the annotations)"


def list_videos(folder):
    """Sorted paths of the files under ``folder`` whose extension is a video extension."""
    return sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                  if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS)


def dataset_videos(name, root, splits=("train", "test"), folds=None):
    """``(paths, missing)``: the unique videos annotated in ``splits`` x ``folds`` (default: every
    fold of ``name``) that exist, and the listed ones that do not (both sorted)."""
    paths, missing = set(), set()
    for fold in folds or DATASETS[name].folds:
        for split in splits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingVideosWarning)  # returned instead
                records, _ = load_records(name, root, split, fold)
            paths.update(r.path for r in records)
            missing.update(getattr(records, "missing", ()))
    return sorted(paths), sorted(missing)


def _probe(job):
    path, full = job
    ok, reason, _ = probe_video(path, full=full)
    return path, ok, reason


def find_unreadable(paths, full=False, workers=2, progress=True):
    """``[(path, reason)]`` (sorted) of the videos :func:`~.decode.probe_video` rejects."""
    jobs = [(p, full) for p in paths]
    return sorted((p, reason) for p, ok, reason in
                  parallel_map(_probe, jobs, workers, desc="checking", progress=progress, chunksize=8)
                  if not ok)


def check_dataset(name, root, splits=("train", "test"), folds=None, full=False, workers=2,
                  progress=True):
    """``(checked, bad)``: how many listed videos there are, and ``[(path, reason)]`` (sorted) of
    those that are missing or unreadable."""
    paths, missing = dataset_videos(name, root, splits, folds)
    bad = find_unreadable(paths, full=full, workers=workers, progress=progress)
    return len(paths) + len(missing), sorted(bad + [(p, MISSING) for p in missing])
