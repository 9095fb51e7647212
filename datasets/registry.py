"""``build_dataset``: dataset name + folder + split -> a :class:`VideoDataset` (the one entry point the
tools and configs use), and the ``DATASETS`` registry of names."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .annotations import (drop_missing, find_kinetics_csv, parse_hmdb51, parse_kinetics,
                          parse_path_label_list, parse_ucf101, read_kinetics_csv)
from .transforms import KINETICS_MEAN, KINETICS_STD, EvalTransform, TrainTransform
from .video_dataset import VideoDataset


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset name: nominal class count, annotation loader, folds, whether horizontal flipping
    keeps labels valid (not for the synthetic set, where left/right motion is the class), and
    whether an ``annotation_file`` that is a file stands for the folder that holds it (HMDB-51 keeps
    one list per class and split: any one of them names the folder of every split's lists)."""
    name: str
    num_classes: Optional[int]
    load: Callable  # (root, split, fold, annotation_file) -> (items, classes)
    folds: tuple = (1,)
    hflip: bool = True
    list_file_names_folder: bool = False

    @property
    def has_folds(self) -> bool:
        """More than one official train/test fold (UCF-101, HMDB-51): runs and messages name it."""
        return len(self.folds) > 1


def _load_kinetics(root, split, fold, annotation_file):
    ann = Path(annotation_file) if annotation_file else None
    if ann is not None and ann.suffix.lower() != ".csv" and not ann.is_dir():
        return parse_path_label_list(ann, video_root=root)
    if ann is not None and ann.is_dir():
        csv_file, ann_root = find_kinetics_csv(ann, split), ann
    elif ann is not None:
        csv_file, ann_root = ann, ann.parent
    else:
        csv_file, ann_root = find_kinetics_csv(root, split), Path(root)
    try:  # the class index comes from the training CSV, so every split agrees on it
        train_csv = find_kinetics_csv(ann_root, "train")
    except FileNotFoundError:
        train_csv = csv_file
    classes = sorted({row[1] for row in read_kinetics_csv(train_csv)})
    return parse_kinetics(csv_file, root, classes)


def _load_ucf101(root, split, fold, annotation_file):
    ann = Path(annotation_file) if annotation_file else None
    if ann is not None and ann.is_file():
        return parse_ucf101(root, split, fold, list_file=ann)
    return parse_ucf101(root, split, fold, annotation_dir=ann)


def _load_hmdb51(root, split, fold, annotation_file):
    ann = Path(annotation_file) if annotation_file else None
    if ann is not None and ann.is_file():
        ann = ann.parent
    return parse_hmdb51(root, split, fold, annotation_dir=ann)


DATASETS = {
    "kinetics400": DatasetSpec("kinetics400", 400, _load_kinetics),
    "kinetics600": DatasetSpec("kinetics600", 600, _load_kinetics),
    "kinetics700": DatasetSpec("kinetics700", 700, _load_kinetics),
    "ucf101": DatasetSpec("ucf101", 101, _load_ucf101, folds=(1, 2, 3)),
    "hmdb51": DatasetSpec("hmdb51", 51, _load_hmdb51, folds=(1, 2, 3), list_file_names_folder=True),
    "synthetic": DatasetSpec("synthetic", None, _load_ucf101, hflip=False),
}


def load_records(name, root, split, fold=1, *, strict=False, annotation_file=None):
    """Parse the annotations of ``name`` -> ``(records, classes)``; missing videos are dropped with
    one warning (``strict``: ``FileNotFoundError``). ``root`` may be laid out as the archives
    unpack or as mmaction2 keeps it (see :mod:`.layout`); when no listed video is found the
    ``FileNotFoundError`` names the folders searched and one expected path."""
    spec = _spec(name)
    if isinstance(annotation_file, dict):  # one list per split
        if split not in annotation_file:
            raise ValueError(f"annotation_file names lists for {sorted(annotation_file)}, not "
                             f"for the {split!r} split")
        annotation_file = annotation_file[split]
    if fold not in spec.folds and not annotation_file:
        raise ValueError(f"{name} has folds {spec.folds}, got fold={fold}")
    if not Path(root).is_dir():
        hint = (" (generate it: python tools/make_synthetic.py " + str(root) + ")"
                if name == "synthetic" else "")
        raise FileNotFoundError(f"dataset folder {root} does not exist{hint}")
    items, classes = spec.load(root, split, fold, annotation_file)
    source = f"the {name} {split} annotations" + (f" (fold {fold})" if spec.has_folds else "")
    if not items:
        raise ValueError(f"{source} list no videos (an empty list file?)")
    return drop_missing(items, strict=strict, source=source), classes


def build_dataset(name, root, split, fold=1, *, num_frames=8, sampling_rate=2, crop_size=112,
                  mode=None, train_scale=None, test_scale=None, num_clips=10, num_crops=3,
                  alpha=None, mean=KINETICS_MEAN, std=KINETICS_STD, hflip=None, short="clamp",
                  strict=False, seed=0, annotation_file=None, max_retries=10, decode_threads=1,
                  frame_cache=None, decoder="decord", subtract_clip_mean=False):
    """Build the dataset ``name`` (see ``DATASETS``) from ``root`` for ``split`` (``train`` /
    ``test``; Kinetics also ``val``) and ``fold`` (UCF-101/HMDB-51: 1-3).

    ``mode``: ``"train"`` (one random clip, float32 ``(C, T, crop, crop)``) or ``"test"``
    (``num_clips x num_crops`` views, ``(V, C, T, crop, crop)``); default from ``split``.
    ``train_scale``: short-side range, default ``(8/7, 10/7) x crop_size`` (256-320 for 224).
    ``test_scale``: short side for testing, default ``crop_size``. ``alpha``: SlowFast ratio
    (video becomes ``[slow, fast]``). ``hflip``: default per dataset (off for ``synthetic``).
    ``short``: ``"clamp"``/``"loop"`` for videos shorter than a clip. ``strict``: raise on missing
    or bad videos instead of skipping them. ``annotation_file``: a list/CSV (or folder) that
    replaces the standard one, or a mapping ``{split: list}``. ``frame_cache``: decode each video once and serve frames from
    memory (``"memory"``, ``"auto"`` = ``<root>/.frame_cache``, a folder; see :mod:`.frame_cache`).
    ``decoder``: ``"decord"`` or ``"torchcodec"`` (configs: ``data.decoder``).
    ``subtract_clip_mean``: subtract each pixel's mean over the clip's frames after normalising
    (the static part of a clip becomes 0; the synthetic recipe's input, see its config).
    """
    spec = _spec(name)
    mode = mode or ("train" if split == "train" else "test")
    records, classes = load_records(name, root, split, fold, strict=strict,
                                    annotation_file=annotation_file)
    if mode == "train":
        scale = train_scale or (round(crop_size * 8 / 7), round(crop_size * 10 / 7))
        transform = TrainTransform(crop_size, scale, hflip=spec.hflip if hflip is None else hflip,
                                   mean=mean, std=std, subtract_clip_mean=subtract_clip_mean)
    else:
        transform = EvalTransform(crop_size, test_scale or crop_size, num_crops, mean=mean, std=std,
                                  subtract_clip_mean=subtract_clip_mean)
    return VideoDataset(records, classes, mode=mode, transform=transform, num_frames=num_frames,
                        sampling_rate=sampling_rate, num_clips=num_clips, alpha=alpha, short=short,
                        strict=strict, max_retries=max_retries, seed=seed,
                        decode_threads=decode_threads, frame_cache=frame_cache, decoder=decoder,
                        root=root)


def _spec(name):
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}") from None
