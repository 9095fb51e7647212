"""Parsers for the official annotation formats: Kinetics CSV, ``path label`` lists, UCF-101 and HMDB-51.

Every parser returns ``(records, classes)``: ``records`` is a list of :class:`VideoRecord` (absolute
video path, 0-based label) and ``classes`` the list of class names (index = label). A malformed line
raises :class:`AnnotationError` (a ``ValueError``) naming ``file:line``. Videos that the annotations
name but that are absent on disk are dropped and reported by :func:`drop_missing` (one warning with
the count and the first few), or raise in strict mode.

Every path a list names stays inside the folder it is relative to, after symbolic links too
(:func:`confined`): ``../`` steps or an absolute path that leave it, or a link that points out of
it, raise :class:`AnnotationError` naming the list, the line and the path it resolved to.
"""
from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .layout import (HMDB51_LIST_DIRS, HMDB51_VIDEO_DIRS, KINETICS_LIST_DIRS, UCF101_LIST_DIRS,
                     UCF101_VIDEO_DIRS, VIDEO_EXTENSIONS, find_file, find_glob, find_video_root,
                     resolve_video)


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video: absolute ``path`` (str) and 0-based ``label`` (int)."""
    path: str
    label: int


class AnnotationError(ValueError):
    """A malformed annotation line; the message starts with ``file:line:``."""

    def __init__(self, file, line_no, reason, line=None):
        self.file, self.line_no, self.reason = str(file), line_no, reason
        where = f"{file}:{line_no}" if line_no is not None else str(file)
        text = f"{where}: {reason}" + (f" (line: {line.rstrip()!r})" if line is not None else "")
        super().__init__(text)


def _within(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def confined(root, rel, list_file, line_no, line=None, what="video folder"):
    """``root / rel`` (a path as a list names it), checked to stay inside ``root``: written as it
    is (``..`` steps and absolute paths resolved) and after symbolic links (of the folders on the
    way and of the file, when they exist; a root that is itself a link is followed first).
    Otherwise :class:`AnnotationError` naming ``list_file:line_no`` and the resolved path."""
    base = os.path.abspath(root)
    lexical = os.path.normpath(os.path.join(base, os.fspath(rel)))
    if not _within(lexical, base):
        raise AnnotationError(list_file, line_no, f"the path {str(rel)!r} resolves to {lexical}, "
                              f"outside the {what} {base} it must stay in", line)
    real, real_base = os.path.realpath(lexical), os.path.realpath(base)
    if not _within(real, real_base):
        raise AnnotationError(list_file, line_no, f"the path {str(rel)!r} resolves through a "
                              f"symbolic link to {real}, outside the {what} {real_base} it must "
                              "stay in", line)
    return Path(root) / rel


def confined_video(root, rel, list_file, line_no, line=None):
    """``(wanted, found or None)``: :func:`confined` ``root / rel`` and the video file
    :func:`~.layout.resolve_video` finds for it (another extension), checked the same way."""
    wanted = confined(root, rel, list_file, line_no, line)
    found = resolve_video(wanted)
    if found is not None:
        confined(root, os.path.relpath(os.path.abspath(found), os.path.abspath(root)),
                 list_file, line_no, line)
    return wanted, found


class MissingVideosWarning(UserWarning):
    """Annotations name videos that are not on disk; they were dropped from the dataset."""


def iter_lines(path):
    """Yield ``(line_no, stripped_line)`` for non-empty, non-comment lines of a text file."""
    with open(path, encoding="utf-8-sig") as f:
        for no, line in enumerate(f, 1):
            s = line.strip()
            if s and not s.startswith("#"):
                yield no, s


class Records(list):
    """A list of :class:`VideoRecord` with ``missing``: the listed videos absent on disk."""

    def __init__(self, records=(), missing=()):
        super().__init__(records)
        self.missing = list(missing)


def drop_missing(items, strict=False, source="annotations", max_listed=5):
    """Split ``[(wanted_path, resolved_path_or_None, label)]`` into records, reporting the missing ones.

    Returns :class:`Records`: the :class:`VideoRecord` whose video exists, with ``.missing``
    (the paths of the others). If some are missing: one :class:`MissingVideosWarning` with the
    count and the first ``max_listed`` paths, or ``FileNotFoundError`` when ``strict``.
    """
    records, missing = [], []
    for wanted, found, label in items:
        if found is None:
            missing.append(str(wanted))
        else:
            records.append(VideoRecord(found, label))
    if missing:
        shown = ", ".join(missing[:max_listed]) + (" ..." if len(missing) > max_listed else "")
        msg = (f"{len(missing)} of {len(items)} videos listed in {source} are missing "
               f"(first: {shown})")
        if strict:
            raise FileNotFoundError(msg)
        warnings.warn(msg + "; they are left out of the dataset", MissingVideosWarning, stacklevel=3)
    return Records(records, missing)


# ----------------------------------------------------------------------------------------- lists
def parse_path_label_list(list_file, video_root=None, classes=None):
    """Parse a ``path label`` list (one video per line, label an int, 0-based).

    ``path`` is relative to ``video_root`` (default: the list's folder) and may contain spaces.
    A line with only a path takes its label from the parent folder's name, which must be in
    ``classes``. Returns ``(items, classes)`` with items ``[(wanted, resolved_or_None, label)]``;
    ``classes`` defaults to ``["0", ..., str(max_label)]``.
    """
    list_file = Path(list_file)
    root = Path(video_root) if video_root is not None else list_file.parent
    index = {c: i for i, c in enumerate(classes)} if classes is not None else None
    items, max_label = [], -1
    for no, line in iter_lines(list_file):
        parts = line.rsplit(maxsplit=1)
        if len(parts) == 2 and _is_int(parts[1]):
            rel, label = parts[0], int(parts[1])
            if label < 0:
                raise AnnotationError(list_file, no, f"negative label {label}", line)
            if classes is not None and label >= len(classes):
                raise AnnotationError(list_file, no,
                                      f"label {label} out of range for {len(classes)} classes", line)
        else:
            rel = line
            folder = Path(rel).parent.name
            if index is None:
                raise AnnotationError(list_file, no, "expected '<path> <integer label>' (a path "
                                      "may contain spaces when the label follows it)", line)
            if folder not in index:
                raise AnnotationError(list_file, no, f"class folder {folder!r} is not a known class",
                                      line)
            label = index[folder]
        max_label = max(max_label, label)
        wanted, found = confined_video(root, rel, list_file, no, line)
        items.append((wanted, found, label))
    if classes is None:
        classes = [str(i) for i in range(max_label + 1)]
    return items, list(classes)


def _line_problem(line, form):
    """Why ``line`` does not match ``form``: a video path with a space in it gets its own message."""
    words = line.split()
    path = line.rsplit(maxsplit=1)[0] if len(words) > 1 and _is_int(words[-1]) else line
    if " " in path.strip() and os.path.splitext(path.strip())[1].lower() in VIDEO_EXTENSIONS:
        return (f"the video path {path.strip()!r} contains a space, but this list separates its "
                f"fields ({form}) by spaces; rename the video without spaces (and its line)")
    return f"expected {form}"


def _is_int(s):
    try:
        int(s)
        return True
    except ValueError:
        return False


# -------------------------------------------------------------------------------------- Kinetics
KINETICS_SPLIT_FILES = {  # official names first, then mmaction2's renamed copies
    "train": ("train", "kinetics_train"),
    "val": ("validate", "val", "kinetics_val"),
    "test": ("test", "kinetics_test", "validate", "val", "kinetics_val"),
}


def read_kinetics_csv(csv_file):
    """Read an official Kinetics CSV -> list of ``(line_no, label, clip_stem, youtube_id, split)``.

    Header: ``label,youtube_id,time_start,time_end,split[,is_cc]``; ``clip_stem`` is
    ``{youtube_id}_{time_start:06d}_{time_end:06d}``.
    """
    rows = []
    with open(csv_file, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise AnnotationError(csv_file, 1, "empty file: expected a header "
                                  "'label,youtube_id,time_start,time_end,split'")
        header = [h.strip() for h in header]
        need = ("label", "youtube_id", "time_start", "time_end")
        if any(h not in header for h in need):
            raise AnnotationError(csv_file, 1, f"header must contain {', '.join(need)}; got {header}")
        col = {h: header.index(h) for h in header}
        for row in reader:
            no = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise AnnotationError(csv_file, no, f"expected {len(header)} fields, got {len(row)}",
                                      ",".join(row))
            label = row[col["label"]].strip()
            yid = row[col["youtube_id"]].strip()
            try:
                start, end = int(float(row[col["time_start"]])), int(float(row[col["time_end"]]))
            except ValueError:
                raise AnnotationError(csv_file, no, "time_start/time_end must be numbers",
                                      ",".join(row)) from None
            if not yid:
                raise AnnotationError(csv_file, no, "empty youtube_id", ",".join(row))
            split = row[col["split"]].strip() if "split" in col else ""
            rows.append((no, label, f"{yid}_{start:06d}_{end:06d}", yid, split))
    return rows


def index_videos(root):
    """Map video file stem -> path for every video file under ``root`` (one walk of the tree)."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                found.setdefault(stem, os.path.join(dirpath, name))
    return found


def find_kinetics_csv(root, split):
    """The CSV for ``split`` in the folders of ``layout.KINETICS_LIST_DIRS`` under ``root``
    (``test`` falls back to val); ``FileNotFoundError`` names the folders and the expected path."""
    names = KINETICS_SPLIT_FILES.get(split)
    if names is None:
        raise ValueError(f"unknown Kinetics split {split!r}; expected one of {list(KINETICS_SPLIT_FILES)}")
    errors = []
    for n in names:
        try:
            return find_file(root, f"{n}.csv", KINETICS_LIST_DIRS, f"Kinetics {split} CSV")
        except FileNotFoundError as e:
            errors.append(e)
    raise FileNotFoundError(f"{errors[0]} (also looked for {', '.join(n + '.csv' for n in names[1:])})"
                            if len(names) > 1 else str(errors[0]))


def parse_kinetics(csv_file, video_root, classes=None):
    """Parse a Kinetics CSV; videos ``{youtube_id}_{start:06d}_{end:06d}.*`` anywhere under
    ``video_root`` (``split/label/`` folders or flat; a plain ``{youtube_id}.*`` also matches).

    ``classes`` defaults to the sorted unique labels of this file. Returns ``(items, classes)``.
    Clip names are unique across Kinetics splits, so the whole ``video_root`` tree is indexed.
    """
    rows = read_kinetics_csv(csv_file)
    if classes is None:
        classes = sorted({r[1] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    root = Path(video_root)
    found = index_videos(root)
    items = []
    for no, label, stem, yid, _ in rows:
        if label not in index:
            raise AnnotationError(csv_file, no, f"label {label!r} is not one of the {len(classes)} "
                                  "classes (empty label, or a test CSV without labels?)")
        path = found.get(stem) or found.get(yid)
        items.append((root / label / f"{stem}.mp4", path, index[label]))
    if items and not any(found for _, found, _ in items):
        label, stem = rows[0][1], rows[0][2]
        raise FileNotFoundError(f"no Kinetics videos found: none of the {len(items)} clips listed in "
                                f"{csv_file} is under {root} (searched its whole tree for "
                                f"<youtube_id>_<start>_<end>.<ext>); expected e.g. "
                                f"{root / 'train' / label / (stem + '.mp4')}")
    return items, list(classes)


# --------------------------------------------------------------------------------------- UCF-101
def parse_ucf101_classind(path):
    """``classInd.txt`` (``1 ApplyEyeMakeup`` ...) -> class names in order (index 0-based)."""
    classes = {}
    for no, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 2 or not _is_int(parts[0]):
            raise AnnotationError(path, no, "expected '<1-based index> <ClassName>'", line)
        idx = int(parts[0])
        if idx in classes or idx < 1:
            raise AnnotationError(path, no, f"duplicate or invalid class index {idx}", line)
        classes[idx] = parts[1]
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise AnnotationError(path, None, "class indices must be 1..N without gaps")
    return [classes[i] for i in range(1, len(classes) + 1)]


def parse_ucf101(root, split, fold=1, annotation_dir=None, video_root=None, list_file=None):
    """UCF-101 ``trainlist0{fold}.txt`` / ``testlist0{fold}.txt`` + ``classInd.txt``.

    Train lines ``Class/v_Class_gXX_cYY.avi <1-based label>`` (the label must agree with the
    folder); test lines have only the path (label from the folder through classInd). Labels are
    0-based. Lists are looked up under ``annotation_dir`` (default ``root``) and videos under
    ``video_root`` (default: the folder of ``layout.UCF101_VIDEO_DIRS`` under ``root`` that holds
    them). ``list_file`` overrides the list (classInd.txt is then looked up beside it first).
    Returns ``(items, classes)``.
    """
    ann = annotation_dir or (Path(list_file).parent if list_file else root)
    classes = parse_ucf101_classind(find_file(ann, "classInd.txt", UCF101_LIST_DIRS,
                                              "UCF-101 class index"))
    index = {c: i for i, c in enumerate(classes)}
    kind = {"train": "trainlist", "test": "testlist", "val": "testlist"}.get(split)
    if kind is None:
        raise ValueError(f"unknown UCF-101 split {split!r}; expected 'train' or 'test'")
    list_file = Path(list_file) if list_file else find_file(ann, f"{kind}{int(fold):02d}.txt",
                                                            UCF101_LIST_DIRS, "UCF-101 list")
    rows = []
    for no, line in iter_lines(list_file):
        parts = line.split()
        if len(parts) not in (1, 2) or (len(parts) == 2 and not _is_int(parts[1])):
            raise AnnotationError(list_file, no,
                                  _line_problem(line, "'<Class>/<video> [<1-based label>]'"), line)
        rel = parts[0]
        folder = Path(rel).parent.name
        if folder not in index:
            raise AnnotationError(list_file, no, f"class folder {folder!r} is not in classInd.txt", line)
        label = index[folder]
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise AnnotationError(list_file, no, f"label {parts[1]} disagrees with folder {folder!r} "
                                  f"(classInd says {label + 1})", line)
        rows.append((rel, label, no, line))
    vroot = Path(video_root) if video_root else find_video_root(
        root, [r for r, *_ in rows], UCF101_VIDEO_DIRS, "UCF-101", list_file)
    return [(*confined_video(vroot, rel, list_file, no, line), label)
            for rel, label, no, line in rows], classes


# --------------------------------------------------------------------------------------- HMDB-51
def find_hmdb51_split_files(root, fold):
    """Map class name -> ``<class>_test_split{fold}.txt``, from the first folder of
    ``layout.HMDB51_LIST_DIRS`` under ``root`` that holds them."""
    suffix = f"_test_split{int(fold)}.txt"
    _, files = find_glob(root, f"*{suffix}", HMDB51_LIST_DIRS, "HMDB-51 split files")
    return {p.name[: -len(suffix)]: p for p in files}


def parse_hmdb51(root, split, fold=1, annotation_dir=None, video_root=None):
    """HMDB-51 split files ``<class>_test_split{fold}.txt``: lines ``<name>.avi <code>``,
    code 1 = train, 2 = test, 0 = unused. Classes = sorted class names. Videos at
    ``<video_root>/<class>/<name>`` (default: the folder of ``layout.HMDB51_VIDEO_DIRS`` under
    ``root`` that holds them). Returns ``(items, classes)``.
    """
    want = {"train": 1, "test": 2, "val": 2}.get(split)
    if want is None:
        raise ValueError(f"unknown HMDB-51 split {split!r}; expected 'train' or 'test'")
    files = find_hmdb51_split_files(annotation_dir or root, fold)
    classes = list(files)
    rows = []  # (rel, label, code)
    for label, (cls, path) in enumerate(files.items()):
        for no, line in iter_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError(path, no, _line_problem(line, "'<video name> <0|1|2>'"),
                                      line)
            rows.append((f"{cls}/{parts[0]}", label, int(parts[1]), path, no, line))
    vroot = Path(video_root) if video_root else find_video_root(
        root, [r for r, *_ in rows], HMDB51_VIDEO_DIRS, "HMDB-51",
        next(iter(files.values())).parent)
    checked = [(*confined_video(vroot, rel, path, no, line), label, code)
               for rel, label, code, path, no, line in rows]  # every line, used or not
    return [(wanted, found, label) for wanted, found, label, code in checked if code == want], \
        classes
