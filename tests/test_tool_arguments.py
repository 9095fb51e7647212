"""tools/check_videos.py and tools/make_synthetic.py: bad arguments and bad inputs end as
``error: ...`` with exit status 2 (never a traceback), before anything is written."""
import shutil

import pytest

from softpool3d.cli import check_videos, make_synthetic



def refused(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_check_videos_with_a_missing_root(tmp_path, capsys):
    out = tmp_path / "bad.txt"
    refused(capsys, check_videos.main(["--dataset", "ucf101", "--root", str(tmp_path / "nope"),
                                       "--out", str(out)]), "--root", "no such folder")
    refused(capsys, check_videos.main(["--folder", str(tmp_path / "nope"), "--out", str(out)]),
            "--folder")
    assert not out.exists()


@pytest.mark.parametrize("folds", [["4"], ["0"], ["1", "9"]])
def test_check_videos_with_a_fold_out_of_range(data_root, tmp_path, capsys, folds):
    out = tmp_path / "bad.txt"
    refused(capsys, check_videos.main(["--dataset", "ucf101", "--root", data_root, "--folds",
                                       *folds, "--out", str(out)]), "--folds", "1, 2, 3")
    refused(capsys, check_videos.main(["--dataset", "synthetic", "--root", data_root,
                                       "--folds", "2", "--out", str(out)]), "--folds")
    assert not out.exists()


def test_check_videos_with_a_malformed_list_names_the_line(data_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data_root, root, ignore=shutil.ignore_patterns(".frame_cache"))
    with open(root / "trainlist01.txt", "a") as f:
        f.write("MoveLeft/v_a.mp4 1 extra words\n")
    out = tmp_path / "bad.txt"
    refused(capsys, check_videos.main(["--dataset", "synthetic", "--root", str(root), "--out",
                                       str(out), "--workers", "1"]), "trainlist01.txt:")
    refused(capsys, check_videos.main(["--dataset", "synthetic", "--root", str(root), "--splits",
                                       "bogus", "--out", str(out)]), "bogus")
    refused(capsys, check_videos.main(["--dataset", "synthetic", "--root", str(root),
                                       "--workers", "0", "--out", str(out)]), "--workers")
    assert not out.exists()


@pytest.mark.parametrize("args, needle", [
    (["--train-per-class", "-1"], "--train-per-class must be at least 1"),
    (["--train-per-class", "0"], "--train-per-class"),
    (["--test-per-class", "-3"], "--test-per-class"),
    (["--num-classes", "0"], "--num-classes"),
    (["--num-classes", "999"], "--num-classes"),
    (["--frames", "1"], "--frames"),
    (["--size", "15"], "--size"),
    (["--size", "33"], "--size must be even"),
    (["--workers", "0"], "--workers"),
    (["--seed", "-1"], "--seed"),
])
def test_make_synthetic_refuses_bad_counts_before_writing(tmp_path, capsys, args, needle):
    out = tmp_path / "syn"
    refused(capsys, make_synthetic.main([str(out), *args]), needle)
    assert not out.exists()
