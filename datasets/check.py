"""Scanning videos for problems, in parallel: the library side of ``tools/check_videos.py``."""
from __future__ import annotations

import os

from .annotations import VIDEO_EXTENSIONS
from .decode import probe_video
from .parallel import parallel_map


def list_videos(folder):
    """Sorted paths of the files under ``folder`` whose extension is a video extension."""
    return sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                  if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS)


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
