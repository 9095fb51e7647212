"""The CPU kernels under AddressSanitizer (small W with padding once read and wrote outside their
buffers while the values often still looked plausible). Compiles the CPU sources with
-fsanitize=address into a temporary folder (~1 min on 2 cores) and runs tests/asan_run.py over every
small geometry and the shared cases with libasan preloaded. Any invalid access fails the test."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["csrc/geometry.cpp", "csrc/softpool.cpp", "csrc/cpu/softpool_cpu.cpp",
           "csrc/testing/device_bodies.cpp"]


def _libasan():
    if shutil.which("g++") is None:
        return None
    path = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def _build(out: Path) -> Path:
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    flags = ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-fopenmp",
             "-fno-trapping-math", "-std=c++20", "-fPIC", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
             "-I", str(ROOT / "csrc"), "-I", sysconfig.get_paths()["include"]]
    for inc in cpp_extension.include_paths():
        flags += ["-isystem", inc]
    objects = []
    procs = []
    for src in SOURCES:
        obj = out / (Path(src).stem + ".o")
        objects.append(str(obj))
        procs.append(subprocess.Popen(["g++", *flags, "-c", str(ROOT / src), "-o", str(obj)],
                                      stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    lib = out / "softpool3d_asan.so"
    (torch_lib,) = cpp_extension.library_paths()
    subprocess.run(["g++", "-shared", "-fsanitize=address", "-fopenmp", *objects, "-o", str(lib),
                    "-L", torch_lib, "-lc10", "-ltorch_cpu", "-ltorch", f"-Wl,-rpath,{torch_lib}"],
                   check=True, timeout=300)
    return lib


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux" or _libasan() is None, reason="needs g++ and libasan")
def test_cpu_kernels_under_address_sanitizer(tmp_path):
    lib = _build(tmp_path)
    # libstdc++ preloaded too: python does not link it, and ASan must find its __cxa_throw.
    libstdcxx = subprocess.run(["g++", "-print-file-name=libstdc++.so"], capture_output=True,
                               text=True).stdout.strip()
    env = dict(os.environ, LD_PRELOAD=f"{_libasan()} {libstdcxx}",
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=99")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "asan_run.py"), str(lib)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert "ERROR: AddressSanitizer" not in proc.stderr, proc.stderr[-6000:]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "0 disagree" in proc.stdout
