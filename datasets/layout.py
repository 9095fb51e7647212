"""Where the downloaded datasets keep their videos and annotation files, and the search over those
places (so a dataset root works as the archives unpack, without moving files).

Folders are relative to the dataset root and searched in order:
  - UCF-101: ``UCF101.rar`` unpacks to ``UCF-101/<Class>/v_*.avi``, the split zip to
    ``ucfTrainTestlist/``; mmaction2 keeps ``videos/<Class>/`` and ``annotations/``.
  - HMDB-51: ``<class>/*.avi`` beside ``testTrainMulti_7030_splits/``; mmaction2 keeps
    ``videos/<class>/`` and ``annotations/``.
  - Kinetics: the CSVs in ``annotations/`` or the root (mmaction2 renames them
    ``kinetics_{train,val,test}.csv``); videos anywhere under the root (``train/<label>/``,
    ``videos_train/``, flat, ...).
A root that is itself the video folder (``.../UCF-101``) finds the lists beside it (``..``).
"""
from __future__ import annotations

import os
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")

UCF101_VIDEO_DIRS = ("UCF-101", ".", "videos", "UCF101/UCF-101", "UCF101")
UCF101_LIST_DIRS = ("ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist",
                    "annotations", "splits", ".", "../ucfTrainTestlist", "../annotations")
HMDB51_VIDEO_DIRS = (".", "videos", "hmdb51_org", "hmdb51")
HMDB51_LIST_DIRS = ("testTrainMulti_7030_splits", "test_train_splits/testTrainMulti_7030_splits",
                    "annotations", "splits", ".", "../testTrainMulti_7030_splits",
                    "../annotations")
KINETICS_LIST_DIRS = ("annotations", ".", "kinetics400", "kinetics600", "kinetics700",
                      "kinetics700_2020")
PROBES = 64  # listed videos checked per candidate folder when choosing the video folder


def resolve_video(path):
    """Return ``path`` if it exists, else the same stem with another video extension, else None."""
    p = Path(path)
    if p.is_file():
        return str(p)
    for ext in VIDEO_EXTENSIONS:
        q = p.with_suffix(ext)
        if q.is_file():
            return str(q)
    return None


def search_dirs(root, names):
    """The folders ``root/<name>`` in order, normalised (``..`` resolved), without repeats."""
    out = []
    for name in names:
        p = Path(os.path.normpath(Path(root) / name))
        if p not in out:
            out.append(p)
    return out


def _shown(dirs):
    return ", ".join(str(d) for d in dirs)


def find_file(root, name, names=UCF101_LIST_DIRS, what="annotation file"):
    """The first ``<dir>/<name>`` that is a file, ``dir`` from :func:`search_dirs`; otherwise
    ``FileNotFoundError`` naming the folders searched and the expected path."""
    dirs = search_dirs(root, names)
    for d in dirs:
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"{what} {name} not found; searched {_shown(dirs)}; expected e.g. "
                            f"{dirs[0] / name}")


def find_glob(root, pattern, names, what="annotation files"):
    """``(folder, sorted paths)`` of the first folder holding files matching ``pattern``."""
    dirs = search_dirs(root, names)
    for d in dirs:
        if d.is_dir():
            files = sorted(d.glob(pattern))
            if files:
                return d, files
    raise FileNotFoundError(f"no {what} '{pattern}' found; searched {_shown(dirs)}; expected e.g. "
                            f"{dirs[0] / pattern.replace('*', '<class>', 1)}")


def find_video_root(root, rels, names, what, source, expected=None):
    """The folder among ``root/<names>`` under which most of the listed videos ``rels`` (paths
    relative to the video folder; a sample of :data:`PROBES`) exist; the first one on ties.

    ``FileNotFoundError`` when none holds any, naming ``source`` (the list), the folders searched
    and one expected path (under ``expected``, default the first name).
    """
    rels = [str(r) for r in rels]
    dirs = search_dirs(root, names)
    if not rels:
        return dirs[0] if dirs[0].is_dir() else Path(root)
    step = max(1, len(rels) // PROBES)
    sample = rels[::step][:PROBES]
    best, hits = None, 0
    for d in dirs:
        if d.is_dir():
            n = sum(resolve_video(d / r) is not None for r in sample)
            if n > hits:
                best, hits = d, n
    if best is None:
        base = search_dirs(root, [expected or names[0]])[0]
        raise FileNotFoundError(f"no {what} videos found: none of the {len(sample)} videos checked "
                                f"from {source} is under {_shown(dirs)}; expected e.g. "
                                f"{base / rels[0]}")
    return best
