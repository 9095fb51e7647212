"""Bad videos are recorded in a format that holds any path: a tab or a newline in a video's name
(legal on POSIX file systems) neither splits one record in two nor truncates a path, in the
samples' ``bad`` field (JSON, which the engine merges over workers and ranks), in a training's
results.json, and in tools/check_videos.py's list (JSON Lines)."""
import json
import shutil

import torch
from torch.utils.data import DataLoader

from _tiny_run import make_data
from softpool3d.cli import check_videos as check_tool
from softpool3d.datasets import VideoDataset, VideoRecord
from softpool3d.datasets.transforms import EvalTransform
from softpool3d.engine import badvideos

ODD = ["tab\there.mp4", "new\nline.mp4"]


def _dataset(tmp_path):
    root = tmp_path / "data"
    make_data(root)
    good = sorted((root / "MoveRight").glob("*.mp4"))[0]
    folder = tmp_path / "odd"
    folder.mkdir()
    records = [VideoRecord(str(good), 0)]
    for name in ODD:  # two empty files: bad videos whose names hold a tab and a newline
        (folder / name).write_bytes(b"")
        records.append(VideoRecord(str(folder / name), 1))
    ds = VideoDataset(records, ["a", "b"], mode="test", num_frames=4, sampling_rate=1, num_clips=1,
                      transform=EvalTransform(32, 32, 1))
    return ds, folder


def test_sample_records_keep_paths_with_tabs_and_newlines(tmp_path):
    ds, folder = _dataset(tmp_path)
    torch.set_num_threads(1)
    found = {}
    for batch in DataLoader(ds, batch_size=3, num_workers=0):  # collated as training does
        found.update(badvideos.from_batch(batch))
    assert set(found) == {str(folder / n) for n in ODD}  # 2 bad videos, not 3 broken ones
    assert all("empty file" in reason for reason in found.values())
    tally = badvideos.BadVideos()
    tally.add("test", found, 2)
    assert tally.counts()["test"] == 2
    assert sorted(v["path"] for v in tally.listing()) == sorted(str(folder / n) for n in ODD)
    assert json.loads(json.dumps(tally.listing())) == tally.listing()


def test_check_videos_list_holds_any_path(tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    data = tmp_path / "data"
    make_data(data)
    shutil.copy(sorted((data / "MoveLeft").glob("*.mp4"))[0], folder / "good.mp4")
    for name in ODD:
        (folder / name).write_bytes(b"")
    listing = tmp_path / "bad.jsonl"
    assert check_tool.main(["--folder", str(folder), "--workers", "1", "--out", str(listing)]) == 1
    rows = [json.loads(line) for line in listing.read_text().splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(str(folder / n) for n in ODD)
    assert all("empty file" in r["reason"] for r in rows)
