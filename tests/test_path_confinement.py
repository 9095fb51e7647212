"""Every path read from a list stays inside the folder it is relative to, after symbolic links too:
tools/prepare_dataset.py refuses a list line that would read a source outside the source's video
folder or write an output outside OUT (exit 2, naming the list, the line and the resolved path,
nothing written), the loaders refuse the same lines, and the ``auto`` frame cache sits at the
dataset root whatever the lists name. Real generated videos, the real tools."""
import os
import shutil
from pathlib import Path

import pytest
import torch

from _tiny_run import CONFIG, soft_overrides as overrides
from softpool3d.cli import prepare_dataset as prepare_tool
from softpool3d.cli import train as train_tool
from softpool3d.datasets import AnnotationError, build_dataset
from softpool3d.datasets.encode import write_video
from softpool3d.datasets.frame_cache import as_frame_cache



def _avi(path):
    """A real 8-frame MPEG-4 .avi (so that its re-encoded .mp4 is a new file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = torch.from_numpy((torch.arange(8 * 32 * 32 * 3) % 251).numpy().astype("uint8")
                              .reshape(8, 32, 32, 3))
    write_video(path, frames, codec="mpeg4", crf=3)
    return path


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")) \
        if Path(folder).exists() else []


def _source(tmp_path, data_root, extra_train_line):
    """A copy of the generated UCF-101 layout under tmp/a/src with one more train list line."""
    src = tmp_path / "a" / "src"
    shutil.copytree(data_root, src)
    with open(src / "trainlist01.txt", "a") as f:
        f.write(extra_train_line + "\n")
    return src


@pytest.mark.parametrize("form", ["dotdot", "absolute"])
def test_prepare_refuses_a_list_line_that_leaves_the_roots(data_root, tmp_path, capsys, form):
    victim = _avi(tmp_path / "victim" / "MoveRight" / "v_x.avi")
    rel = "../../victim/MoveRight/v_x.avi" if form == "dotdot" else str(victim)
    src = _source(tmp_path, data_root, f"{rel} 1")
    out = tmp_path / "a" / "out"
    before = _files(tmp_path / "victim")
    code = prepare_tool.main(["ucf101", str(src), str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    line_no = len((src / "trainlist01.txt").read_text().splitlines())
    assert f"{src / 'trainlist01.txt'}:{line_no}:" in err
    assert f"resolves to {victim}" in err and "outside the video folder" in err
    assert "Traceback" not in err
    assert _files(tmp_path / "victim") == before  # no v_x.mp4 written beside the victim
    assert not out.exists()  # nothing written at all


def test_prepare_refuses_a_symlink_out_of_the_source_or_output_folder(data_root, tmp_path, capsys):
    secret = _avi(tmp_path / "secret" / "clip.avi")
    src = _source(tmp_path, data_root, "MoveRight/v_link.avi 1")
    (src / "MoveRight" / "v_link.avi").symlink_to(secret)
    out = tmp_path / "a" / "out"
    assert prepare_tool.main(["ucf101", str(src), str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{src / 'trainlist01.txt'}:" in err and "symbolic link" in err
    assert f"to {secret}" in err and not out.exists()

    # an output folder whose class folder links elsewhere: the outputs would land there
    src2 = tmp_path / "b" / "src"
    shutil.copytree(data_root, src2)
    out2 = tmp_path / "b" / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out2.mkdir()
    (out2 / "MoveRight").symlink_to(elsewhere)
    assert prepare_tool.main(["ucf101", str(src2), str(out2), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and f"to {elsewhere}" in err and "outside the output folder" in err
    assert _files(elsewhere) == [] and _files(out2) == ["MoveRight"]


def test_prepare_still_prepares_a_clean_copy(data_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert prepare_tool.main(["ucf101", data_root, str(out), "--workers", "1"]) == 0
    assert (out / "MoveRight" / "v_MoveRight_g01_c01.mp4").is_file()


def test_the_loaders_refuse_the_same_lines(data_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    outside = tmp_path / "MoveLeft" / "v_MoveLeft_g09_c01.mp4"
    outside.parent.mkdir()
    shutil.copy(root / "MoveLeft" / "v_MoveLeft_g01_c01.mp4", outside)
    with open(root / "testlist01.txt", "a") as f:
        f.write("../MoveLeft/v_MoveLeft_g09_c01.mp4\n")
    with pytest.raises(AnnotationError, match="outside the video folder") as info:
        build_dataset("synthetic", str(root), "test", num_clips=1, num_crops=1, crop_size=32)
    assert info.value.file == str(root / "testlist01.txt") and info.value.line_no == 3
    assert str(outside) in str(info.value)
    torch.set_num_threads(1)
    code = train_tool.main([CONFIG, *overrides(str(root)), "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{root / 'testlist01.txt'}:3:" in err and "Traceback" not in err
    assert not (tmp_path / ".frame_cache").exists() and not (tmp_path / "run").exists()


def test_the_auto_frame_cache_is_at_the_dataset_root_whatever_the_list_names(data_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    # a test list naming the videos of one class only: their common folder is root/MoveRight
    (root / "testlist01.txt").write_text("MoveRight/v_MoveRight_g01_c01.mp4\n"
                                         "MoveRight/v_MoveRight_g01_c02.mp4\n")
    ds = build_dataset("synthetic", str(root), "test", frame_cache="auto", num_clips=1,
                       num_crops=1, crop_size=32)
    assert os.path.dirname(ds.frame_cache.file) == str(root / ".frame_cache")
    assert not (root / "MoveRight" / ".frame_cache").exists()
    paths = [r.path for r in ds.records]
    with pytest.raises(ValueError, match="dataset root"):
        as_frame_cache("auto", paths, progress=False)  # no root: no guess from the paths
