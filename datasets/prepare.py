"""Dataset preparation: check a source copy against its annotations, re-encode every annotated video
to a short side (H.264 .mp4, in parallel, resumable) and write the annotation files the loaders read
into the output folder.

The source may be laid out as the archives unpack or as mmaction2 keeps it (see :mod:`.layout`); the
output mirrors the paths relative to the source's video folder (``.mp4`` suffix), with the
annotation files rewritten with the new names:
  - ucf101: ``ucfTrainTestlist/{classInd,trainlist0k,testlist0k}.txt``
  - hmdb51: ``testTrainMulti_7030_splits/<class>_test_split{k}.txt``
  - kinetics: ``annotations/<split>.csv`` (copied) and ``annotations/<split>_list.txt``
    (``path label`` lines, 0-based labels, class index = sorted labels of train.csv).

Every path a list names stays inside the source's video folder and its output inside the output
folder, after symbolic links too: a line that leaves either stops the plan (``AnnotationError``
naming the list, the line and the resolved path) before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from softpool3d._files import atomic_write_text, remove_leftovers

from .annotations import (KINETICS_SPLIT_FILES, confined, confined_video, find_hmdb51_split_files, index_videos, iter_lines,
                          parse_hmdb51, parse_ucf101, read_kinetics_csv)
from .layout import (HMDB51_VIDEO_DIRS, KINETICS_LIST_DIRS, UCF101_LIST_DIRS, UCF101_VIDEO_DIRS,
                     find_file, find_video_root, search_dirs)
from .decode import FRAME_SHORTFALL, reported_frames, shortfall
from .encode import reencode_video
from .parallel import parallel_map

KINDS = ("kinetics", "ucf101", "hmdb51")


@dataclass
class Plan:
    """What to do: ``jobs`` ``[(src, dst)]``, ``missing`` annotated sources that are absent, and
    ``lists`` ``{output annotation path: text}`` to write."""
    jobs: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    lists: dict = field(default_factory=dict)


@dataclass
class Report:
    done: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  # [(src, reason)]
    missing: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # [(src, message)]: done, but a few frames short

    def summary(self):
        return (f"done {self.done}, skipped (already done) {self.skipped}, failed {len(self.failed)}, "
                f"missing {len(self.missing)}, warnings {len(self.warnings)}")


def _mp4(rel):
    return str(Path(rel).with_suffix(".mp4"))


def _add(plan, src_root, out_root, rel, seen, where):
    """Queue the video ``rel`` (relative to ``src_root``) once; returns its output-relative path.
    ``where`` ``(list file, line number, line)`` is the list line naming it: a source outside
    ``src_root`` or an output outside ``out_root`` (after symbolic links) raises
    ``AnnotationError`` naming it."""
    _, found = confined_video(src_root, rel, *where)
    out_rel = _mp4(rel)
    confined(out_root, out_rel, *where, what="output folder")
    if out_rel not in seen:
        seen.add(out_rel)
        if found is None:
            plan.missing.append(str(Path(src_root) / rel))
        else:
            plan.jobs.append((found, str(Path(out_root) / out_rel)))
    return out_rel


def plan_ucf101(src, out, folds=(1, 2, 3), annotation_dir=None):
    """Plan UCF-101: every video named in the train/test lists of the folds that exist (lists
    under ``annotation_dir``, default ``src``; videos in the folder of ``src`` that holds them)."""
    plan, seen = Plan(), set()
    ann = annotation_dir or src
    classind = find_file(ann, "classInd.txt", UCF101_LIST_DIRS, "UCF-101 class index")
    plan.lists["ucfTrainTestlist/classInd.txt"] = classind.read_text()
    lists = {}  # list file -> the video paths it names (relative to the video folder)
    for fold in folds:
        for kind, split in (("trainlist", "train"), ("testlist", "test")):
            list_file = classind.parent / f"{kind}{fold:02d}.txt"
            if list_file.is_file():  # parsed first: a malformed line stops the plan
                parse_ucf101(src, split, fold, list_file=list_file, video_root=src)
                lists[list_file] = [(line.split()[0], no, line) for no, line in iter_lines(list_file)]
    if not lists:
        raise FileNotFoundError(f"no trainlist0k.txt/testlist0k.txt beside {classind}")
    rels = [r for rs in lists.values() for r, _, _ in rs]
    vroot = find_video_root(src, rels, UCF101_VIDEO_DIRS, "UCF-101", next(iter(lists)))
    for list_file, rs in lists.items():
        lines = []
        for rel, no, line in rs:
            parts = line.split()
            parts[0] = _add(plan, vroot, out, rel, seen, (list_file, no, line))
            lines.append(" ".join(parts) + "\n")
        plan.lists[f"ucfTrainTestlist/{list_file.name}"] = "".join(lines)
    return plan


def plan_hmdb51(src, out, folds=(1, 2, 3), annotation_dir=None):
    """Plan HMDB-51: every video named in the split files (codes 0, 1 and 2) of the folds present
    (split files under ``annotation_dir``, default ``src``; videos in the folder that holds them)."""
    plan, seen = Plan(), set()
    ann = annotation_dir or src
    found, first_error = {}, None  # split file -> (class, [(name, code)])
    for fold in folds:
        try:
            files = find_hmdb51_split_files(ann, fold)
        except FileNotFoundError as e:
            first_error = first_error or e
            continue
        parse_hmdb51(src, "train", fold, annotation_dir=ann, video_root=src)  # checks the lines
        for cls, path in files.items():
            found[path] = (cls, [(*line.split(), no, line) for no, line in iter_lines(path)])
    if not found:
        raise first_error
    folder = next(iter(found)).parent
    rels = [f"{cls}/{name}" for cls, rows in found.values() for name, *_ in rows]
    vroot = find_video_root(src, rels, HMDB51_VIDEO_DIRS, "HMDB-51", folder)
    for path, (cls, rows) in found.items():
        lines = []
        for name, code, no, line in rows:
            out_rel = _add(plan, vroot, out, f"{cls}/{name}", seen, (path, no, line))
            lines.append(f"{Path(out_rel).name} {code}\n")
        plan.lists[f"testTrainMulti_7030_splits/{path.name}"] = "".join(lines)
    return plan


def plan_kinetics(src, out, annotation_dir=None):
    """Plan Kinetics: every clip of the CSVs found (train, validate/val, test) under
    ``annotation_dir`` (default ``src``; the folders of ``layout.KINETICS_LIST_DIRS``)."""
    plan, seen = Plan(), set()
    ann_root = Path(annotation_dir or src)
    csvs = {}
    dirs = search_dirs(ann_root, KINETICS_LIST_DIRS)
    for folder in dirs:
        for names in KINETICS_SPLIT_FILES.values():
            for n in names:
                if (folder / f"{n}.csv").is_file() and n not in csvs:
                    csvs[n] = folder / f"{n}.csv"
        if csvs:
            break
    if not csvs:
        names = sorted({n + ".csv" for ns in KINETICS_SPLIT_FILES.values() for n in ns})
        raise FileNotFoundError(f"no Kinetics CSVs ({', '.join(names)}) found; searched "
                                f"{', '.join(map(str, dirs))}; expected e.g. {dirs[0] / 'train.csv'}")
    rows = {n: read_kinetics_csv(p) for n, p in csvs.items()}
    classes = sorted({r[1] for r in rows.get("train") or next(iter(rows.values()))})
    index = {c: i for i, c in enumerate(classes)}
    found = index_videos(src)
    for n, path in csvs.items():
        plan.lists[f"annotations/{n}.csv"] = path.read_text(encoding="utf-8-sig")
        lines = []
        for no, label, stem, yid, _ in rows[n]:
            video = found.get(stem) or found.get(yid)
            if video is None:
                plan.missing.append(f"{label}/{stem}")
                continue
            rel = str(Path(video).relative_to(src))
            out_rel = _add(plan, src, out, rel, seen, (path, no, None))
            if label in index:
                lines.append(f"{out_rel} {index[label]}\n")
        plan.lists[f"annotations/{n}_list.txt"] = "".join(lines)
    if not plan.jobs:
        raise FileNotFoundError(f"no Kinetics videos found: none of the clips listed in "
                                f"{', '.join(map(str, csvs.values()))} is under {src} (searched its "
                                "whole tree for <youtube_id>_<start>_<end>.<ext>); expected e.g. "
                                f"{Path(src) / 'train' / '<label>' / 'abc_000010_000020.mp4'}")
    return plan


def make_plan(kind, src, out, **kw):
    """Plan ``kind`` (``kinetics``, ``ucf101`` or ``hmdb51``); raises on malformed annotations."""
    planner = {"kinetics": plan_kinetics, "ucf101": plan_ucf101, "hmdb51": plan_hmdb51}.get(kind)
    if planner is None:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")
    return planner(Path(src), Path(out), **kw)


def _encode_job(job):
    """Re-encode one video -> ``(src, error or None, warning or None)``. A source whose decoded
    frames fall short of its header's count by more than ``tolerance`` fails (its output is
    removed, so a rerun tries again); a smaller shortfall is a warning."""
    src, dst, short_side, crf, keyint, tolerance = job
    try:
        written = reencode_video(src, dst, short_side=short_side, crf=crf, keyint=keyint)
    except Exception as e:  # any decode/encode failure is reported, never fatal
        return src, f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", None
    reported = reported_frames(src)
    problem = shortfall(reported, written, tolerance)
    if problem:
        Path(dst).unlink(missing_ok=True)
        return src, problem, None
    if 0 < written < reported:
        return src, None, f"{reported - written} of the {reported} frames its header reports " \
                          "did not decode (within the tolerance; kept)"
    return src, None, None


def run_plan(plan, out, short_side=256, crf=23, keyint=None, workers=2, progress=True,
             tolerance=FRAME_SHORTFALL):
    """Re-encode the jobs not done yet, then write the annotation files. Returns a :class:`Report`.

    A job is done when its output exists (outputs appear only once complete, see ``encode``).
    A truncated source (decoded frames short of the header's count by more than ``tolerance``, a
    fraction) fails. Failure and missing lists are written to ``out/prepare_failed.jsonl`` /
    ``prepare_missing.jsonl`` (JSON Lines: ``{"path", "reason"}`` / ``{"path"}`` per video).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(missing=list(plan.missing))
    todo = []
    for src, dst in plan.jobs:
        if Path(dst).is_file():
            report.skipped += 1
        else:
            remove_leftovers(dst)  # what an interrupted run left
            todo.append((src, dst, short_side if short_side and short_side > 0 else 1 << 30, crf,
                         keyint, tolerance))
    for src, error, warning in parallel_map(_encode_job, todo, workers, desc="re-encoding",
                                            progress=progress):
        if error is None:
            report.done += 1
        else:
            report.failed.append((src, error))
        if warning:
            report.warnings.append((src, warning))
    for rel, text in plan.lists.items():
        atomic_write_text(str(out / rel), text)
    for name, rows in (("prepare_failed.jsonl", [{"path": s, "reason": r} for s, r in report.failed]),
                       ("prepare_missing.jsonl", [{"path": s} for s in report.missing])):
        path = out / name  # JSON Lines: one object per video, any path (tabs, newlines) intact
        if rows:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif path.exists():
            path.unlink()
    return report


__all__ = ["KINDS", "Plan", "Report", "make_plan", "run_plan", "plan_ucf101", "plan_hmdb51",
           "plan_kinetics"]
