"""One training per run folder (an OS file lock, released however the holder ends, kill -9
included), and ``--fresh``: nothing of the earlier run is mixed into the new one."""
import json
import os
import signal
import subprocess
import sys
import time

from softpool3d.engine import runlock

from _tiny_run import CONFIG, ROOT, overrides, snapshot, tool_env, train

HOLD = """
import sys, time
from softpool3d.engine.runlock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _holder(folder):
    """Another process that holds ``folder``'s lock (as a running training does)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_training_in_a_locked_folder_refuses_and_touches_nothing(data_root, tmp_path,
                                                                          capsys):
    out = tmp_path / "run"
    assert train(data_root, out) == 0
    capsys.readouterr()
    before = snapshot(out)
    holder = _holder(out)
    try:
        for flags in ((), ("--fresh",), ("optim.epochs=2",)):
            assert train(data_root, out, *flags) == 2
            err = capsys.readouterr().err
            assert f"error: {out}: another training is running in this folder" in err, err
            assert f"pid {holder.pid}" in err and "Traceback" not in err
            after = snapshot(out)
            after.pop(runlock.LOCK, None)
            assert after == {k: v for k, v in before.items()}  # byte-identical
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_is_released_when_its_holder_is_killed(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    holder = _holder(out)
    assert train(data_root, out) == 2
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (out / runlock.LOCK).exists()  # the file stays; the OS lock went with the process
    assert train(data_root, out) == 0
    assert not (out / runlock.LOCK).exists()  # a normal exit removes the file
    assert json.loads((out / "results.json").read_text())["epochs"] == 1


def test_a_training_started_while_another_runs_there_refuses(data_root, tmp_path, capsys):
    """A real tools/train.py process mid-training, and a second training in its folder: the
    second exits 2 at once and writes nothing; the folder's metrics.jsonl holds one run's lines."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "softpool3d.cli.train", CONFIG,
           *overrides(data_root, "optim.epochs=200"), "--output-dir", str(out)]
    first = subprocess.Popen(cmd, cwd=ROOT, env=tool_env(),
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "first.err", "w"))
    try:
        deadline = time.time() + 240
        while not (out / "last.pth").exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert first.poll() is None, (tmp_path / "first.err").read_text()[-3000:]
        assert (out / "last.pth").exists()
        assert train(data_root, out, "optim.epochs=1", "--fresh") == 2
        err = capsys.readouterr().err
        assert f"pid {first.pid}" in err and "Traceback" not in err
        assert (out / "last.pth").exists()  # --fresh did not remove the running one's files
    finally:
        first.kill()
        first.wait()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r["step"] for r in records if "train_epoch" in json.dumps(r)]
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # one run's epochs, in order


def test_fresh_removes_the_earlier_run_and_says_so(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(data_root, out) == 0
    assert train(data_root, out, "optim.epochs=2") == 0  # resumed: previous.pth now exists
    assert (out / "previous.pth").exists()
    (out / "notes.txt").write_text("mine")  # not written by a training: left alone
    capsys.readouterr()
    assert train(data_root, out, "--fresh") == 0
    printed = capsys.readouterr().out
    assert f"a fresh start in {out}: removed the earlier run's" in printed
    assert "previous.pth" in printed and "metrics.jsonl" in printed and "notes.txt" in printed
    assert not (out / "previous.pth").exists()  # only one epoch since the fresh start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "train_epoch" in json.dumps(r)]
    assert len(epochs) == 1, records
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 1 and results["resumes"] == []
    assert (out / "notes.txt").read_text() == "mine"
