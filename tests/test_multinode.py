"""Two torchrun "nodes" on this machine: ``torchrun --nnodes=2 --nproc-per-node=1`` launched twice,
meeting at a c10d rendezvous on 127.0.0.1 (gloo, CPU), train one tiny epoch, then the same two-node
command resumes it for a second epoch.

Each node gets its own output folder (the same ``--output-dir`` on two machines without a shared
filesystem), so what each rank wrote can be seen. Checked: both nodes finish; the two ranks trained
on disjoint shards (the engine gathers the sample indices every rank trained on, per epoch); the
final weights are the same on both ranks and equal to rank 0's checkpoint; only rank 0's node has
checkpoints, logs and results; the resume continues from rank 0's checkpoint although the other node
has none (c10d may hand rank 0 to either node, so the test reads who was rank 0 from the logs).
Also: ``distributed.in_turn`` (rank 0 builds on-disk caches first, the others wait longer than the
collective timeout, and a failure on one rank stops the others with its message)."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from _tiny_run import CONFIG, MEDIUM, ROOT, tool_env

pytestmark = pytest.mark.slow  # real multi-process trainings
SYNTHETIC = MEDIUM  # the size of conftest's data_root here
WRITTEN_BY_RANK_0 = ("config.yaml", "metrics.jsonl", "last.pth", "best.pth", "results.json",
                     "test_confusion.csv")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_nodes(root, outs, logs, *extra, timeout=240):
    """Launch one torchrun per "node" (same rendezvous, node ranks 0 and 1) and wait for both;
    returns each node's (exit status, log text)."""
    port = free_port()
    procs = []
    for node, (out, log) in enumerate(zip(outs, logs)):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
               f"--node-rank={node}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
               f"--rdzv-id=multinode-{port}", "--max-restarts=0", "--monitor-interval=0.5",
               os.path.join(ROOT, "tools", "train.py"), CONFIG,
               f"data.root={root}", "data.crop_size=32", "data.train_scale=[32,40]",
               "data.test_scale=32", "data.test_crop_size=32", "data.workers=0",
               "data.num_clips=2", "train.batch_size=2", "train.max_steps_per_epoch=2",
               "train.eval_every=0", "train.tensorboard=false", "train.dist_timeout_s=60",
               *extra, "--output-dir", out]
        f = open(log, "w")
        procs.append((subprocess.Popen(cmd, env=tool_env(PYTHONPATH=ROOT), stdout=f,
                                       stderr=subprocess.STDOUT, text=True), f))
    deadline = time.monotonic() + timeout
    results = []
    for p, f in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q, _ in procs:
                q.kill()
            p.wait()
        f.close()
        results.append((p.returncode, open(f.name).read()))
    return results


def rank0_node(runs):
    """The node whose worker was rank 0 (the only one that prints the 'training ...' line)."""
    nodes = [i for i, (_, log) in enumerate(runs) if "training r3d_tiny" in log]
    assert len(nodes) == 1, [log[-3000:] for _, log in runs]
    return nodes[0]


def listing(folder):
    """{relative path: sha1} of every file under ``folder`` ({} when it does not exist)."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, folder)] = hashlib.sha1(open(path, "rb").read()).hexdigest()
    return out


def weights_sha1(state_dict):
    """The engine's ``weights_digest`` (trainer.py) of a checkpoint's model weights."""
    h = hashlib.sha1()
    for name, t in state_dict.items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_epoch(record, clips_per_rank):
    """The engine's per-epoch shard record: every rank trained on its own samples."""
    shards = record["train"]["shards"]
    assert shards["samples"] == [clips_per_rank, clips_per_rank]
    assert shards["overlap"] == 0 and shards["distinct"] == 2 * clips_per_rank
    assert record["train"]["clips"] == 2 * clips_per_rank


def test_two_nodes_train_disjoint_shards_write_on_rank_0_and_resume(data_root, tmp_path):
    outs = [str(tmp_path / f"node{i}" / "run") for i in range(2)]
    logs = [str(tmp_path / f"node{i}.log") for i in range(2)]
    runs = two_nodes(data_root, outs, logs, "optim.epochs=1")
    for rc, log in runs:
        assert rc == 0, log[-4000:]
    main = rank0_node(runs)
    other = 1 - main
    out = outs[main]
    # only rank 0 wrote: its node has the run's files, the other node's folder was never created
    files = listing(out)
    assert set(WRITTEN_BY_RANK_0) <= set(files), sorted(files)
    assert not os.path.exists(outs[other]), listing(outs[other])

    res = json.load(open(os.path.join(out, "results.json")))
    assert res["world_size"] == 2 and res["epochs"] == 1
    check_epoch(res["history"][0], 4)  # 2 steps x 2 clips on each rank
    assert res["num_videos"] == 6  # the test split, sharded over the two ranks, each video once
    # the same weights on both ranks, and they are what rank 0 saved
    assert res["ddp_weights_identical"] is True
    last = torch.load(os.path.join(out, "last.pth"), map_location="cpu", weights_only=True)
    assert last["epoch"] == 1 and len(last["rng"]) == 2
    assert res["weights_sha1"] == weights_sha1(last["model"])

    # the same two-node job, one epoch longer: it resumes from rank 0's checkpoint (the other node
    # has none) on whichever node c10d makes rank 0 this time
    before = [listing(o) for o in outs]
    logs2 = [str(tmp_path / f"node{i}.resume.log") for i in range(2)]
    runs2 = two_nodes(data_root, outs, logs2, "optim.epochs=2")
    for rc, log in runs2:
        assert rc == 0, log[-4000:]
    main2 = rank0_node(runs2)
    assert "resumed from" in runs2[main2][1] and "(epoch 1/2)" in runs2[main2][1]
    assert listing(outs[1 - main2]) == before[1 - main2]  # rank 1 wrote nothing
    res2 = json.load(open(os.path.join(outs[main2], "results.json")))
    assert res2["epochs"] == 2 and len(res2["history"]) == 2
    assert res2["history"][0] == res["history"][0]  # epoch 1 came from the checkpoint
    check_epoch(res2["history"][1], 4)
    assert res2["resumes"] == [{"epoch": 1, "changed": {"optim.epochs": [1, 2]}}]
    assert res2["ddp_weights_identical"] is True
    last2 = torch.load(os.path.join(outs[main2], "last.pth"), map_location="cpu",
                       weights_only=True)
    assert last2["epoch"] == 2 and res2["weights_sha1"] == weights_sha1(last2["model"])
    assert res2["weights_sha1"] != res["weights_sha1"]  # it trained on


IN_TURN = """
import sys, time
import torch
from softpool3d.engine import distributed as du

log = sys.argv[1]
du.init(torch.device("cpu"), timeout_s=2.0)  # a collective waits 2 s at most


def say(line):  # one write per line: the two ranks share torchrun's stdout
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()


def build(fail):
    with open(log, "a") as f:
        f.write(f"start {du.rank()} {time.time()}\\n")
    if du.rank() == 0:
        time.sleep(5)  # a cache that takes longer to build than the collective timeout
        if fail:
            raise ValueError("no annotation file")
    with open(log, "a") as f:
        f.write(f"end {du.rank()} {time.time()}\\n")
    return du.rank()


try:
    say(f"built {du.in_turn(lambda: build(False))}")
    du.in_turn(lambda: build(True))
except du.PeerFailedError as e:
    say(f"rank {du.rank()} stopped: {e}")
    sys.exit(5)
except ValueError as e:
    say(f"rank {du.rank()} failed: {e}")
    time.sleep(2)  # let the other rank report before torchrun ends the job
    sys.exit(6)
finally:
    du.shutdown()
"""


def test_in_turn_waits_past_the_collective_timeout_and_stops_every_rank_on_a_failure(tmp_path):
    script, log = tmp_path / "in_turn.py", tmp_path / "turns.log"
    script.write_text(IN_TURN)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "--max-restarts=0", str(script), str(log)]
    proc = subprocess.run(cmd, env=tool_env(PYTHONPATH=ROOT), capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    events = [line.split() for line in log.read_text().splitlines()]
    # first call: rank 1 started only after rank 0 had finished (5 s, past the 2 s timeout)
    assert "built 0" in out and "built 1" in out, out[-3000:]
    assert [e[:2] for e in events[:4]] == [["start", "0"], ["end", "0"], ["start", "1"],
                                           ["end", "1"]]
    assert float(events[2][2]) >= float(events[1][2])
    # second call: rank 0 fails; rank 1 stops with rank 0's message and never builds
    assert proc.returncode != 0
    assert "rank 0 failed: no annotation file" in out, out[-3000:]
    assert "rank 1 stopped: rank 0 failed: ValueError: no annotation file" in out, out[-3000:]
    assert [e[:2] for e in events[4:]] == [["start", "0"]]
