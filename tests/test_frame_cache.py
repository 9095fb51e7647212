"""The decoded-frame cache: same samples as decoding, rebuilt when a video changes, bad videos
replaced as without it."""
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from softpool3d.datasets import build_dataset, read_frames, synthetic
from softpool3d.datasets.frame_cache import FrameCache, as_frame_cache, fingerprint

SMALL = dict(num_frames=4, sampling_rate=2, crop_size=32)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc") / "synthetic"
    synthetic.generate(root, seed=3, num_classes=2, train_per_class=3, test_per_class=1, frames=10,
                       size=40, workers=1, progress=False)
    return root


def _samples(ds, seed=7):
    torch.manual_seed(seed)
    ds._rng = None  # restart the dataset's stream
    return [ds[i]["video"] for i in range(len(ds))]


@pytest.mark.parametrize("split", ["train", "test"])
def test_same_samples_with_and_without_cache(syn, tmp_path, split):
    kw = dict(SMALL, num_clips=2, num_crops=1) if split == "test" else SMALL
    plain = build_dataset("synthetic", syn, split, **kw)
    for spec in ("memory", tmp_path / "cache"):
        cached = build_dataset("synthetic", syn, split, frame_cache=spec, **kw)
        assert cached.frame_cache is not None and len(cached.frame_cache) == len(plain)
        for a, b in zip(_samples(plain), _samples(cached)):
            assert torch.equal(a, b)


def test_cache_frames_equal_decoded_frames(syn, tmp_path):
    ds = build_dataset("synthetic", syn, "train", frame_cache=tmp_path / "c", **SMALL)
    cache = ds.frame_cache
    idx = np.array([[9, 0, 3], [3, 3, 1]])
    for i, rec in enumerate(ds.records):
        got = cache.frames(i, idx)
        assert got.dtype == torch.uint8 and got.shape == (2, 3, 40, 40, 3)
        assert torch.equal(got, read_frames(rec.path, idx))
    # the memory map is shared, not copied, by a pickled (spawned-worker) copy
    clone = pickle.loads(pickle.dumps(cache))
    assert len(pickle.dumps(cache)) < 10_000 and torch.equal(clone.frames(1, [2]), cache.frames(1, [2]))


def test_folder_cache_reused_and_invalidated(tmp_path, syn):
    root = tmp_path / "copy"
    shutil.copytree(syn, root)
    folder = tmp_path / "cache"
    ds = build_dataset("synthetic", root, "train", frame_cache=folder, **SMALL)
    first = sorted(p.name for p in folder.iterdir())
    assert len(first) == 2 and ds.frame_cache.file.endswith(".u8")
    key = fingerprint([r.path for r in ds.records])
    again = build_dataset("synthetic", root, "train", frame_cache=folder, **SMALL)
    assert sorted(p.name for p in folder.iterdir()) == first  # reused
    assert again.frame_cache.file == ds.frame_cache.file
    # replace one video by another clip's content: new key, stale cache removed, new frames served
    victim, donor = ds.records[0].path, ds.records[-1].path
    shutil.copyfile(donor, victim)
    st = os.stat(victim)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = build_dataset("synthetic", root, "train", frame_cache=folder, **SMALL)
    assert fingerprint([r.path for r in changed.records]) != key
    assert len(list(folder.iterdir())) == 2 and changed.frame_cache.file != ds.frame_cache.file
    assert torch.equal(changed.frame_cache.frames(0, [0, 5]), read_frames(donor, [0, 5]))


def test_bad_video_recorded_and_replaced(tmp_path, syn):
    root = tmp_path / "copy"
    shutil.copytree(syn, root)
    ds0 = build_dataset("synthetic", root, "train", **SMALL)
    bad = ds0.records[1].path
    with open(bad, "wb") as f:
        f.write(b"not a video")
    ds = build_dataset("synthetic", root, "train", frame_cache=tmp_path / "cache", **SMALL)
    assert list(ds.frame_cache.bad) == [1] and "cannot open" in ds.frame_cache.bad[1]
    sample = ds[1]
    assert sample["skipped"] == 1 and sample["index"] != 1


def test_as_frame_cache_specs(syn, tmp_path):
    paths = [r.path for r in build_dataset("synthetic", syn, "train", **SMALL).records]
    assert as_frame_cache(None, paths) is None and as_frame_cache(False, paths) is None
    mem = as_frame_cache("memory", paths, progress=False)
    assert mem.file is None and mem.nbytes == len(paths) * 10 * 40 * 40 * 3
    assert as_frame_cache(mem, paths) is mem
    with pytest.raises(ValueError, match="other videos"):
        as_frame_cache(mem, paths[:-1])
    with pytest.raises(ValueError, match="frame_cache must be"):
        as_frame_cache(3, paths)
    assert isinstance(FrameCache.build(paths[:1], workers=1, progress=False), FrameCache)


def test_auto_cache_lives_in_the_dataset_folder(tmp_path, syn):
    root = tmp_path / "copy"
    shutil.copytree(syn, root)
    ds = build_dataset("synthetic", root, "test", frame_cache="auto", num_clips=1, num_crops=1,
                       **SMALL)
    assert os.path.dirname(ds.frame_cache.file) == str(root / ".frame_cache")
