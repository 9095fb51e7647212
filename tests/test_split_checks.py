"""Every split a training will read is checked before the first step: an empty or comment-only
list, an unknown split name, a fold the dataset lacks, a list whose videos are all missing end as
``error: ...`` with exit status 2 and no checkpoint; one annotation file may not serve both the
training and the test split (per-split files are accepted)."""
import json
import shutil

import pytest

from _tiny_run import train


@pytest.fixture()
def copy_root(data_root, tmp_path):
    """A copy of the dataset whose lists a test may break."""
    root = tmp_path / "data"
    shutil.copytree(data_root, root, ignore=shutil.ignore_patterns(".frame_cache"))
    return root


def refused(capsys, code, out, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: " in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (out / "last.pth").exists() and not (out / "results.json").exists()
    return err


@pytest.mark.parametrize("text", ["", "# nothing here\n\n   \n# still nothing\n"])
def test_an_empty_test_list_is_found_before_training(copy_root, tmp_path, capsys, text):
    (copy_root / "testlist01.txt").write_text(text)
    out = tmp_path / "run"
    refused(capsys, train(str(copy_root), out), out, "'data.test_split'", "list no videos")


def test_an_empty_training_list_is_refused(copy_root, tmp_path, capsys):
    (copy_root / "trainlist01.txt").write_text("# only a comment\n")
    out = tmp_path / "run"
    refused(capsys, train(str(copy_root), out), out, "'data.train_split'")


def test_a_test_list_whose_videos_are_all_missing_is_refused(copy_root, tmp_path, capsys):
    for line in (copy_root / "testlist01.txt").read_text().split():
        (copy_root / line).unlink()
    out = tmp_path / "run"
    refused(capsys, train(str(copy_root), out), out, "'data.test_split'")


@pytest.mark.parametrize("override, key", [("data.test_split=bogus", "'data.test_split'"),
                                           ("data.val_split=valid", "'data.val_split'"),
                                           ("data.train_split=training", "'data.train_split'")])
def test_an_unknown_split_name_is_refused_before_training(data_root, tmp_path, capsys, override,
                                                          key):
    out = tmp_path / "run"
    refused(capsys, train(data_root, out, override, "train.eval_every=1"), out, key, "unknown")


def test_a_fold_out_of_range_is_refused(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    refused(capsys, train(data_root, out, "data.fold=3"), out, "'data.fold'")
    refused(capsys, train(data_root, out, "data.fold=0"), out, "'data.fold'")


def test_an_unused_split_is_not_checked(data_root, tmp_path):
    """No validation (train.eval_every=0): data.val_split is never read, so it is not refused."""
    assert train(data_root, tmp_path / "run", "data.val_split=valid", "train.eval_every=0") == 0


def test_one_annotation_file_for_train_and_test_is_refused(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    lst = f"{data_root}/trainlist01.txt"
    refused(capsys, train(data_root, out, f"data.options={{annotation_file: {lst}}}"), out,
            "'data.options.annotation_file'", "would serve every split", "tested on its training")


def test_per_split_annotation_files_are_used_each_for_its_split(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    custom = tmp_path / "lists"
    custom.mkdir()
    shutil.copy(f"{data_root}/classInd.txt", custom / "classInd.txt")
    train_rel = [l for l in open(f"{data_root}/trainlist01.txt").read().splitlines() if l]
    test_rel = open(f"{data_root}/testlist01.txt").read().split()
    (custom / "train.txt").write_text("\n".join(f"{data_root}/{l}" for l in train_rel) + "\n")
    (custom / "test.txt").write_text("\n".join(f"{data_root}/{l}" for l in test_rel[:1]) + "\n")
    option = (f"data.options={{annotation_file: {{train: {custom / 'train.txt'}, "
              f"test: {custom / 'test.txt'}}}}}")
    assert train(data_root, out, option) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["num_videos"] == 1  # the test list's one video, not the 6 training clips
    ann = results["config"]["data"]["options"]["annotation_file"]
    assert ann == {"train": str(custom / "train.txt"), "test": str(custom / "test.txt")}


def test_a_per_split_mapping_without_the_test_split_is_refused(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    option = f"data.options={{annotation_file: {{train: {data_root}/trainlist01.txt}}}}"
    refused(capsys, train(data_root, out, option), out, "no file for the 'test' split")
