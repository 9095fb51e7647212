"""softpool3d.cli.sweep: the grid, skipping finished runs, usage errors; it and the demo read the
package's configs from any working directory."""
import json
import os

from softpool3d.cli import demo, sweep
from softpool3d.config import shipped_config


def test_plan_runs_original_once_per_seed():
    runs = sweep.plan(["r3d_tiny"], ["original", "soft"], ["all", "stem,head"], [0, 1])
    assert [(r["pool"], r["sites"], r["seed"]) for r in runs] == [
        ("original", "paper", 0), ("original", "paper", 1), ("soft", "all", 0), ("soft", "all", 1),
        ("soft", "stem,head", 0), ("soft", "stem,head", 1)]
    assert sweep.run_dir("o", runs[4]).endswith(os.path.join("r3d_tiny", "soft@stem,head", "seed0"))


def test_finished_runs_are_skipped(tmp_path, capsys):
    out = tmp_path / "runs"
    for r in sweep.plan(["r3d_tiny"], ["original", "soft"], ["paper"], [0, 1]):  # the default
        d = sweep.run_dir(str(out), r)
        os.makedirs(d)
        with open(os.path.join(d, "results.json"), "w") as f:
            json.dump({"top1": 0.5}, f)
    code = sweep.main(["--pools", "original", "soft", "--seeds", "0", "1", "--out", str(out),
                       "--no-profile"])
    assert code == 0 and "4 runs, 4 finished already, 0 to train" in capsys.readouterr().out
    assert not any(p.name == "train.log" for p in out.rglob("*"))


def test_run_folders_name_the_protocol():
    dirs = [os.path.relpath(sweep.run_dir("o", r), "o") for r in
            sweep.plan(["r3d_tiny"], ["original", "soft"], ["paper", "all", "head,global"], [0])]
    assert dirs == [os.path.join("r3d_tiny", d, "seed0")
                    for d in ("original", "soft", "soft@all", "soft@head,global")]


def test_dry_run_commands(capsys):
    assert sweep.main(["--pools", "max", "--sites", "stem", "--seeds", "3", "--dry-run",
                       "data.root=x"]) == 0
    line = capsys.readouterr().out.strip()
    assert "model.pool=max model.pool_sites=[stem] train.seed=3 data.root=x" in line


def test_usage_errors(capsys):
    for argv in (["--pools", "nope"], ["--models", "nope"], ["--sites", "tail"], ["--jobs", "0"]):
        assert sweep.main(argv) == 2
        assert capsys.readouterr().err.startswith("error: ")


def test_configs_come_from_the_package_in_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert sweep.main(["--seeds", "0", "--dry-run"]) == 0
    config = shipped_config("synthetic/r3d_tiny.yaml")
    assert os.path.isfile(config) and f" {config} " in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_demo_names_a_config_the_package_lacks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert demo.main(["--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no config ") and "nope.yaml" in err, err
    assert not list(tmp_path.iterdir())
