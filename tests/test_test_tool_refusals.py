"""tools/test.py: the checkpoint's own saved config decides what the model is; a config file or an
override that contradicts it is refused with the differences listed, before anything is
evaluated or written, while the keys of where the data is and how the test runs may change.
Fold templates and --folds are checked before the first fold runs. Real tiny trainings."""
import json
import shutil

import pytest
import torch

from _tiny_run import CONFIG, soft_overrides as overrides, soft_train as train
from softpool3d.cli import test as test_tool
from softpool3d.engine import checkpoint as ckpt


def test_a_config_that_contradicts_the_checkpoint_is_refused_listing_the_differences(
        soft_run, tmp_path, capsys):
    out = tmp_path / "t"
    # the README's shape: the dataset's config file (pool: original) and the run's checkpoint
    code = test_tool.main([CONFIG, "--checkpoint", str(soft_run / "last.pth"),
                           "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: cannot test {soft_run / 'last.pth'} with this config")
    assert "  model.pool: 'soft' in the checkpoint, 'original' now" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("override, listed", [
    ("model.pool=max", "model.pool: 'soft' in the checkpoint, 'max' now"),
    ("data.num_frames=8", "data.num_frames: 4 in the checkpoint, 8 now"),
    ("model.name=x3d_xs_tiny", "model.name: 'r3d_tiny' in the checkpoint, 'x3d_xs_tiny' now"),
])
def test_an_override_that_contradicts_the_checkpoint_is_refused(soft_run, tmp_path, capsys,
                                                                override, listed):
    out = tmp_path / "t"
    assert test_tool.main(["--checkpoint", str(soft_run), override, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"  {listed}" in err and "Traceback" not in err and not out.exists()


def test_another_models_config_is_refused_not_a_size_mismatch(data_root, soft_run, tmp_path,
                                                              capsys):
    other = ["model.name=x3d_xs_tiny" if o.startswith("model.pool") else o
             for o in overrides(data_root)]
    assert test_tool.main([CONFIG, *other, "--checkpoint", str(soft_run / "last.pth"),
                           "--output-dir", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "model.name: 'r3d_tiny' in the checkpoint, 'x3d_xs_tiny' now" in err
    assert "size mismatch" not in err and "Traceback" not in err


def test_what_a_test_may_change_is_accepted_and_recorded(data_root, soft_run, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(data_root, moved)
    out = tmp_path / "t"
    # the training's own command line (config + overrides), with other test views and data root
    code = test_tool.main([CONFIG, *overrides(data_root), f"data.root={moved}", "data.num_clips=2",
                           "--checkpoint", str(soft_run), "--output-dir", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    tr = json.loads((out / "test_results.json").read_text())
    assert tr["pool"] == "soft" and tr["config"]["model"]["pool"] == "soft"
    changed = tr["folds"]["1"]["config_changes"]
    assert changed["data.num_clips"] == [1, 2] and changed["data.root"][1] == str(moved)
    assert tr["folds"]["1"]["num_views"] == 2


def test_a_checkpoint_that_does_not_fit_its_own_config_is_a_named_error(soft_run, tmp_path,
                                                                        capsys):
    forged = tmp_path / "forged.pth"
    state = ckpt.load(str(soft_run / "last.pth"))
    state["model"] = {k: v[:1] if v.ndim else v for k, v in state["model"].items()}
    torch.save(state, forged)
    assert test_tool.main(["--checkpoint", str(forged), "--output-dir", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {forged}: its weights do not fit the model built from the "
                          "config") and "Traceback" not in err


def test_fold_templates_with_a_format_and_bad_fields(soft_run, tmp_path, capsys):
    template = str(soft_run.parent / "run{fold:02d}")
    out = tmp_path / "t"
    assert test_tool.main(["--checkpoint", template, "--output-dir", str(out)]) == 0, \
        capsys.readouterr().err
    assert json.loads((out / "test_results.json").read_text())["folds"]["1"]["checkpoint"] == \
        str(soft_run / "last.pth")
    capsys.readouterr()
    for bad in ("run{fold.x}", "run{fold[0]}", "run{0}", "run{}", "run{fold!r}", "run{fold:s}",
                "run{fold", "run}"):
        with pytest.raises(SystemExit) as info:
            test_tool.main(["--checkpoint", str(tmp_path / bad)])
        err = capsys.readouterr().err
        assert info.value.code == 2 and "--checkpoint" in err and "Traceback" not in err, bad


def test_folds_on_a_dataset_without_folds_stop_before_any_fold_runs(soft_run, tmp_path, capsys):
    out = tmp_path / "t"
    assert test_tool.main(["--checkpoint", str(soft_run), "--folds", "1", "2",
                           "--output-dir", str(out)]) == 2
    printed = capsys.readouterr()
    assert "error: --folds 1 2: synthetic has no folds" in printed.err
    assert "test_fold1" not in printed.out and not out.exists()


def test_one_checkpoint_for_other_folds_is_refused_before_the_first_runs(data_root, tmp_path,
                                                                       capsys):
    # a UCF-101-layout copy trained as ucf101 fold 1, then named for folds 1 and 2
    run = tmp_path / "ucf_fold1"
    assert train(data_root, run, "data.name=ucf101", "data.fold=1") == 0
    out = tmp_path / "t"
    capsys.readouterr()
    assert test_tool.main(["--checkpoint", str(run), "--folds", "1", "2",
                           "--output-dir", str(out)]) == 2
    printed = capsys.readouterr()
    assert "data.fold: 1 in the checkpoint, 2 now" in printed.err
    assert "put {fold} in --checkpoint" in printed.err
    assert "test_fold1" not in printed.out and not out.exists()
