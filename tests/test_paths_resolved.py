"""Paths in a config are resolved once, when the run starts, and stored absolute: a resume from
another working directory, where the same relative ``data.root`` names other videos, is refused
with the difference listed instead of continuing on the other data."""
import os
import shutil

import yaml

from softpool3d.config import load_config, resolve_dict_paths, resolve_paths

from _tiny_run import train


def test_paths_are_stored_absolute_and_a_resume_elsewhere_is_refused(data_root, tmp_path,
                                                                     capsys, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    shutil.copytree(data_root, a / "data", ignore=shutil.ignore_patterns(".frame_cache"))
    shutil.copytree(data_root, b / "data", ignore=shutil.ignore_patterns(".frame_cache"))
    out = tmp_path / "run"
    monkeypatch.chdir(a)
    assert train("data", out) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data"]["root"] == str((a / "data").resolve())
    assert saved["train"]["output_dir"] == str(out)
    capsys.readouterr()
    monkeypatch.chdir(b)  # the same relative root now names other videos
    assert train("data", out, "optim.epochs=2") == 2
    err = capsys.readouterr().err
    assert "data.root" in err and str((a / "data").resolve()) in err and str(b / "data") in err
    monkeypatch.chdir(a)  # from where it started, the resume is accepted
    assert train("data", out, "optim.epochs=2") == 0


def test_a_relative_path_of_an_older_checkpoint_is_compared_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = {"data": {"root": "data", "options": {"annotation_file": {"train": "l/t.txt"}}},
           "model": {"init_checkpoint": None}}
    resolved = resolve_dict_paths(old)
    assert resolved["data"]["root"] == str(tmp_path.resolve() / "data")
    assert resolved["data"]["options"]["annotation_file"] == {
        "train": str(tmp_path.resolve() / "l" / "t.txt")}
    assert old["data"]["root"] == "data"  # a copy


def test_every_path_key_is_resolved_and_modes_are_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, ["data.root=d", "model.init_checkpoint=w.pth", "train.output_dir=o",
                             "data.options={annotation_file: l.txt, frame_cache: auto}"])
    resolve_paths(cfg)
    here = str(tmp_path.resolve())
    assert cfg.data.root == os.path.join(here, "d")
    assert cfg.model.init_checkpoint == os.path.join(here, "w.pth")
    assert cfg.train.output_dir == os.path.join(here, "o")
    assert cfg.data.options == {"annotation_file": os.path.join(here, "l.txt"),
                                "frame_cache": "auto"}
