"""Every checkpoint load verifies what it reads, as the writer does: a file whose tensor record no
longer matches its zip CRC (bytes flipped by a disk error; torch.load alone reads it without a
word) is treated like a truncated one. A resume falls back to previous.pth, the test tool and
model.init_checkpoint refuse it with a named error. Real trainings, real torch.save files."""
import json
import shutil

import pytest
import torch

from _tiny_run import CONFIG, flip_bytes, soft_overrides as overrides, soft_train as train
from softpool3d.cli import test as test_tool
from softpool3d.cli import train as train_tool
from softpool3d.engine import checkpoint as ckpt



@pytest.fixture(scope="module")
def run2(data_root, tmp_path_factory):
    """A run of 2 epochs: last.pth (epoch 2) and previous.pth (epoch 1)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert train(data_root, out, "optim.epochs=2") == 0
    return out


def test_a_flipped_tensor_record_is_refused_by_load_although_torch_reads_it(run2, tmp_path):
    bad = tmp_path / "last.pth"
    shutil.copy(run2 / "last.pth", bad)
    member = flip_bytes(bad)
    damaged = torch.load(bad, weights_only=True)  # torch itself reads it without a word
    intact = torch.load(run2 / "last.pth", weights_only=True)
    assert _tensors(damaged).keys() == _tensors(intact).keys()
    assert [k for k, v in _tensors(intact).items() if not torch.equal(v, _tensors(damaged)[k])]
    with pytest.raises(ckpt.CheckpointError, match="does not match the CRC") as info:
        ckpt.load(str(bad))
    assert info.value.corrupt and not info.value.unsafe and member in str(info.value)
    with pytest.raises(ckpt.CheckpointError, match="does not match the CRC"):
        ckpt.load_training_state(str(bad))


def _tensors(tree, prefix=""):
    """``{dotted key: tensor}`` of every tensor in a loaded checkpoint."""
    out = {}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) \
        if isinstance(tree, (list, tuple)) else ()
    for k, v in items:
        if isinstance(v, torch.Tensor):
            out[f"{prefix}{k}"] = v
        else:
            out.update(_tensors(v, f"{prefix}{k}."))
    return out


def test_resume_falls_back_to_previous_when_last_has_a_bad_crc(data_root, run2, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(run2, out)
    flip_bytes(out / "last.pth")
    capsys.readouterr()
    assert train(data_root, out, "optim.epochs=3") == 0
    text = capsys.readouterr().out
    assert f"{out / 'last.pth'}: corrupt checkpoint: the record" in text
    assert f"falling back to {out / 'previous.pth'} (epoch 1)" in text
    assert f"resumed from {out / 'previous.pth'} (epoch 1/3)" in text
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 3 and [h["epoch"] for h in results["history"]] == [1, 2, 3]
    assert ckpt.load(str(out / "last.pth"))["epoch"] == 3


def test_explicit_resume_of_a_damaged_file_exits_2_naming_it(data_root, run2, tmp_path, capsys):
    bad = tmp_path / "copy.pth"
    shutil.copy(run2 / "last.pth", bad)
    flip_bytes(bad)
    out = tmp_path / "new"
    assert train(data_root, out, "optim.epochs=3", "--resume", str(bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: corrupt checkpoint: the record") and "Traceback" not in err
    assert not (out / "last.pth").exists()


def test_the_test_tool_refuses_a_damaged_checkpoint_and_points_at_previous(run2, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(run2, out)
    flip_bytes(out / "last.pth")
    (out / "test_results.json").unlink(missing_ok=True)
    assert test_tool.main(["--checkpoint", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {out / 'last.pth'}: corrupt checkpoint: the record" in err
    assert f"--checkpoint {out / 'previous.pth'}" in err and "Traceback" not in err
    assert not (out / "test_results.json").exists()
    assert test_tool.main(["--checkpoint", str(out / "previous.pth"), "--output-dir",
                           str(tmp_path / "t")]) == 0


def test_init_checkpoint_with_a_bad_crc_is_refused_naming_the_key(data_root, run2, tmp_path,
                                                                   capsys):
    bad = tmp_path / "pretrained.pth"
    shutil.copy(run2 / "last.pth", bad)
    flip_bytes(bad)
    torch.set_num_threads(1)
    code = train_tool.main([CONFIG, *overrides(data_root), f"model.init_checkpoint={bad}",
                            "--output-dir", str(tmp_path / "ft")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: config key 'model.init_checkpoint': {bad}: corrupt checkpoint")
    assert "--fresh" not in err and "Traceback" not in err


def test_the_writer_still_verifies_and_the_check_costs_one_read(run2):
    # the same check the writer runs before a checkpoint replaces last.pth
    ckpt.verify(str(run2 / "last.pth"))
    ckpt.check_crcs(str(run2 / "last.pth"))
    ckpt.check_crcs(str(run2 / "last.pth"), tensors=False)
