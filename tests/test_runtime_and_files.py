"""The two low modules every part imports: softpool3d._files (atomic writes: the old file or the new
one, never a partial one; what an interrupted writer leaves is found and removed) and
softpool3d.runtime (device name, autocast with one meaning each, the process's peak memory)."""
import os

import pytest
import torch

from softpool3d import _files, runtime


def test_atomic_path_renames_on_success_and_removes_the_temp_file_on_error(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with _files.atomic_path(str(target)) as tmp:
        assert os.path.dirname(tmp) == str(target.parent) and tmp.endswith(_files.SUFFIX)
        with open(tmp, "wb") as f:
            f.write(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError):
        with _files.atomic_path(str(target)) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("killed while writing")
    assert target.read_bytes() == b"new" and os.listdir(target.parent) == ["out.bin"]


def test_a_verify_that_raises_leaves_the_target_and_keep_previous_links_it(tmp_path):
    path = str(tmp_path / "last.pth")
    _files.atomic_write_text(path, "one")

    def refuse(tmp):
        raise ValueError("does not read back")
    with pytest.raises(ValueError):
        _files.atomic_write(path, lambda f: f.write(b"two"), verify=refuse)
    assert open(path).read() == "one" and os.listdir(tmp_path) == ["last.pth"]
    _files.atomic_write(path, lambda f: f.write(b"two"), keep_previous=str(tmp_path / "prev.pth"))
    assert open(path).read() == "two" and open(tmp_path / "prev.pth").read() == "one"


def test_leftovers_of_interrupted_writers_are_found_and_removed(tmp_path):
    target = tmp_path / "clip.mp4"
    old_style = tmp_path / ".clip.mp4.partial"
    unique = tmp_path / ".clip.mp4.k3j2.partial"
    other = tmp_path / ".clip.mp4x.partial"  # another file's
    for p in (old_style, unique, other):
        p.write_bytes(b"half")
    assert _files.partial_path(str(target)) == str(old_style)
    assert _files.leftovers(str(target)) == sorted([str(old_style), str(unique)])
    _files.remove_leftovers(str(target))
    assert sorted(os.listdir(tmp_path)) == [".clip.mp4x.partial"]


def test_autocast_means_the_same_on_every_device_and_the_engine_keeps_cpu_in_float32():
    x = torch.randn(4, 4)
    with runtime.autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with runtime.autocast(torch.device("cpu"), "none"):
        assert (x @ x).dtype == torch.float32
    with runtime.cuda_autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.float32


def test_device_name_and_process_peak_memory_on_the_cpu():
    name = runtime.device_name(torch.device("cpu"))
    assert name.endswith(f"({torch.get_num_threads()} threads)") and len(name) > 12
    peak = runtime.process_peak_memory(torch.device("cpu"))
    assert peak["kind"] == "cpu_peak_rss" and peak["bytes"] > 10 * 2**20
