"""tools/bench_pool.py: its clocks and its record."""
import json
import time

import pytest
import torch

from softpool3d.cli import bench_pool
from softpool3d.profiling import times_ms

CPU = torch.device("cpu")


def test_cpu_time_counts_the_threads_work_not_waiting():
    def wait():
        time.sleep(0.05)

    wall = times_ms(wait, CPU, 0, 2)
    work = times_ms(wait, CPU, 0, 2, cpu_time=True)
    assert min(wall) >= 45 and max(work) < 20


def test_cpu_time_refuses_other_devices():
    with pytest.raises(ValueError, match="cpu_time"):
        times_ms(lambda: None, torch.device("meta"), 0, 1, cpu_time=True)


def test_cpu_time_run_is_one_thread_and_says_its_clock(tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / "bench.json"
    try:
        rc = bench_pool.main(["--cpu-time", "--shape", "1", "2", "2", "6", "6", "--layouts",
                              "contiguous", "--dtypes", "float32", "--cases", "k2s2",
                              "--methods", "soft", "ada", "--warmup", "0", "--iters", "2",
                              "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    record = json.loads(out.read_text())
    assert record["meta"]["threads"] == 1
    assert record["meta"]["clock"] == "thread CPU time, minimum"
    assert [r["method"] for r in record["rows"]] == ["soft", "ada"]
    assert all(r["fwd_bwd_ms"] > 0 for r in record["rows"])


def test_cpu_time_with_cuda_is_refused(capsys):
    assert bench_pool.main(["--device", "cuda", "--cpu-time", "--iters", "1"]) == 2
    assert "--cpu-time measures CPU work" in capsys.readouterr().err
