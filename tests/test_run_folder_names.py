"""The names of a run folder's checkpoints (``last``, ``best``: ``test.checkpoint``) are resolved
inside the run folder only: a file called ``last`` or ``best`` in the working directory (another
model's checkpoint) never replaces the run's own in the final test of tools/train.py. Real tiny
trainings."""
import json
import shutil

import pytest

from _tiny_run import soft_train as train
from softpool3d.engine import checkpoint as ckpt



@pytest.fixture(scope="module")
def other_run(data_root, tmp_path_factory):
    """Another model: max pooling, another seed, 2 epochs."""
    out = tmp_path_factory.mktemp("other") / "run"
    assert train(data_root, out, "model.pool=max", "train.seed=7", "optim.epochs=2") == 0
    return out


@pytest.mark.parametrize("name", ["last", "best"])
def test_a_file_named_like_a_run_checkpoint_in_the_working_directory_is_ignored(
        data_root, other_run, tmp_path, monkeypatch, name):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    shutil.copy(other_run / "last.pth", cwd / name)  # a real, loadable checkpoint of another run
    monkeypatch.chdir(cwd)
    out = tmp_path / "run"
    assert train(data_root, out, f"test.checkpoint={name}") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["checkpoint"] == str(out / f"{name}.pth")
    assert results["weights_sha1"] != json.loads(
        (other_run / "results.json").read_text())["weights_sha1"]


def test_in_run_names_only_the_folders_files(tmp_path):
    assert ckpt.in_run(str(tmp_path), "last") == str(tmp_path / "last.pth")
    assert ckpt.in_run(str(tmp_path), "best") == str(tmp_path / "best.pth")
    with pytest.raises(ValueError, match="unknown run checkpoint"):
        ckpt.in_run(str(tmp_path), "../last")
