"""Every way of handing the tools an unusable checkpoint ends with ``error: ...`` naming the file
(and the config key where one names it) and exit status 2: model.init_checkpoint naming a pickle
payload, a truncated file, a folder or a file without weights; --resume of a plain state dict or a
folder; tools/test.py with a plain state dict. No traceback, no code run, no hint that does not
fit (a --fresh restart for a broken init_checkpoint, a re-save for a pickle)."""
import os

import pytest
import torch

from _tiny_run import CONFIG, soft_overrides as overrides, soft_train as train
from softpool3d.cli import test as test_tool
from softpool3d.cli import train as train_tool
from softpool3d.engine import checkpoint as ckpt


class RunsCode:
    """A pickle whose loading calls ``os.mkdir(marker)``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _pickle(path, marker):
    torch.save({"model_state": {"w": torch.zeros(1)}, "hook": RunsCode(marker)}, path)
    return path


def _truncated(path, run):
    data = (run / "last.pth").read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _folder(path, run):
    path.mkdir()
    return path


def _no_tensors(path, run):
    torch.save({"epoch": 3, "note": "no weights here"}, path)
    return path


@pytest.mark.parametrize("kind, says", [
    ("pickle", "refused to load: it holds Python objects"),
    ("truncated", "truncated or corrupt checkpoint"),
    ("folder", "is a folder, not a checkpoint file"),
    ("no_tensors", "holds no weights to load"),
])
def test_init_checkpoint_unusable_exits_2_naming_the_key(data_root, soft_run, tmp_path, capsys,
                                                         kind, says):
    marker = tmp_path / "pwned"
    path = tmp_path / "pretrained.pth"
    path = {"pickle": lambda: _pickle(path, marker),
            "truncated": lambda: _truncated(path, soft_run),
            "folder": lambda: _folder(path, soft_run),
            "no_tensors": lambda: _no_tensors(path, soft_run)}[kind]()
    torch.set_num_threads(1)
    out = tmp_path / "ft"
    code = train_tool.main([CONFIG, *overrides(data_root), f"model.init_checkpoint={path}",
                            "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: config key 'model.init_checkpoint': {path}: {says}")
    assert not marker.exists()
    assert "re-save" not in err and "--fresh" not in err and "Traceback" not in err
    assert not (out / "last.pth").exists()


def test_init_checkpoint_missing_names_the_key(data_root, tmp_path, capsys):
    torch.set_num_threads(1)
    gone = tmp_path / "gone.pth"
    assert train_tool.main([CONFIG, *overrides(data_root), f"model.init_checkpoint={gone}",
                            "--output-dir", str(tmp_path / "ft")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: config key 'model.init_checkpoint': no such checkpoint: {gone}")


def test_resume_of_a_plain_state_dict_or_a_folder_exits_2(data_root, soft_run, tmp_path, capsys):
    plain = tmp_path / "weights.pth"
    torch.save(ckpt.load(str(soft_run / "last.pth"))["model"], plain)
    assert train(data_root, tmp_path / "new", "--resume", str(plain)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {plain}: not a training checkpoint written by tools/train.py: "
                          "it is a plain state dict (tensors only) and lacks 'model', 'epoch', 'config'")
    assert "model.init_checkpoint" in err and "KeyError" not in err and "Traceback" not in err
    assert train(data_root, tmp_path / "new", "--resume", str(soft_run)) == 2
    assert f"error: {soft_run}: is a folder, not a checkpoint file" in capsys.readouterr().err


def test_a_plain_state_dict_as_last_falls_back_to_previous(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_root, out, "optim.epochs=2") == 0
    torch.save(ckpt.load(str(out / "last.pth"))["model"], out / "last.pth")
    capsys.readouterr()
    assert train(data_root, out, "optim.epochs=2") == 0
    text = capsys.readouterr().out
    assert f"{out / 'last.pth'}: not a training checkpoint" in text
    assert f"resumed from {out / 'previous.pth'} (epoch 1/2)" in text


def test_the_test_tool_refuses_a_plain_state_dict_with_or_without_a_config(data_root, soft_run,
                                                                           tmp_path, capsys):
    plain = tmp_path / "weights.pth"
    torch.save(ckpt.load(str(soft_run / "last.pth"))["model"], plain)
    for argv in (["--checkpoint", str(plain)],
                 [CONFIG, *overrides(data_root), "--checkpoint", str(plain)]):
        assert test_tool.main([*argv, "--output-dir", str(tmp_path / "t")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {plain}: not a training checkpoint written by "
                              "tools/train.py") and "KeyError" not in err
        assert "previous checkpoint may be intact" not in err  # not a damaged file
    assert not (tmp_path / "t").exists()
