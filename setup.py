"""Build softpool3d and its C++/CUDA extension ``softpool3d._C``.

A CUDA extension is built when a CUDA toolkit is usable (``CUDA_HOME``/``CUDA_PATH`` set, an ``nvcc``
found, or ``FORCE_CUDA=1``), otherwise a CPU-only C++ extension. ``TORCH_CUDA_ARCH_LIST`` picks the
GPU architectures (default: a release list). ``SOFTPOOL_NO_EXTENSION=1`` skips the extension (the
package then runs on the pure-PyTorch reference). ``SOFTPOOL_BUILD_TEST_OPS=1`` also builds
``softpool3d._C_testing``, the test-only ops that run the CUDA kernels' per-element bodies on the
CPU (``tools/setup_env.sh`` sets it; a user's build carries no test entry points). Install with
``pip install --no-build-isolation -e .`` (the build imports the installed torch).
"""
import glob
import os
import shutil

from setuptools import setup

RELEASE_ARCHS = "7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"


def find_cuda_home():
    """The CUDA toolkit root, or None. Resolves ``nvcc`` shims (``exec .../bin/nvcc``) to their
    toolkit; torch would otherwise guess the shim's parent folder and fail to link cudart."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    candidates += sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    for root in candidates:
        if os.path.isfile(os.path.join(root, "bin", "nvcc")) and \
                os.path.isfile(os.path.join(root, "include", "cuda_runtime.h")):
            return root
    return None


def extensions():
    if os.environ.get("SOFTPOOL_NO_EXTENSION") == "1":
        return [], {}
    cuda_home = find_cuda_home()
    if cuda_home:
        os.environ["CUDA_HOME"] = cuda_home  # read by torch.utils.cpp_extension at import
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    with_cuda = os.environ.get("FORCE_CUDA") == "1" or cuda_home is not None
    sources = ["csrc/geometry.cpp", "csrc/softpool.cpp", "csrc/cpu/softpool_cpu.cpp",
               "csrc/adapool.cpp", "csrc/cpu/adapool_cpu.cpp"]
    cxx = ["-O3", "-fopenmp", "-fno-trapping-math"]  # the last lets the lane loops vectorise
    include_dirs = [os.path.abspath("csrc")]
    extra = {"cxx": cxx}
    kind = CppExtension
    if with_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", RELEASE_ARCHS)
        sources += ["csrc/cuda/softpool_cuda.cu", "csrc/cuda/adapool_cuda.cu"]
        extra["nvcc"] = ["-O3", "--expt-relaxed-constexpr"]
        extra["cxx"] = cxx + ["-DSOFTPOOL_WITH_CUDA"]
        kind = CUDAExtension
    exts = [kind("softpool3d._C", sources, extra_compile_args=extra, extra_link_args=["-fopenmp"],
                 include_dirs=include_dirs)]
    if os.environ.get("SOFTPOOL_BUILD_TEST_OPS") == "1":
        exts.append(CppExtension(
            "softpool3d._C_testing", ["csrc/geometry.cpp", "csrc/testing/device_bodies.cpp",
                                      "csrc/testing/adapool_device_bodies.cpp"],
            extra_compile_args={"cxx": cxx}, extra_link_args=["-fopenmp"],
            include_dirs=include_dirs))
    return exts, {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = extensions()

PACKAGES = ["softpool3d", "softpool3d.engine", "softpool3d.cli", "softpool3d.datasets",
            "softpool3d.models", "softpool3d.configs"]

# Each tool: softpool3d/cli/<module>.py with main(argv=None) -> exit code; tools/<module>.py is a shim
# (tools/profile.py also guards against shadowing the standard library's `profile`).
TOOLS = ["train", "test", "demo", "sweep", "report", "profile", "make_synthetic",
         "check_videos", "prepare_dataset", "bench_pool", "bench_retention", "bench_data"]

setup(
    name="softpool3d",
    version="0.1.0",
    description="Spatio-temporal SoftPool for PyTorch and a video action-recognition benchmark",
    # datasets/, models/ and configs/ live at the top of the repository but install as
    # softpool3d.datasets, softpool3d.models and softpool3d.configs (the YAML files as its data):
    # no top-level modules named `datasets`/`models`, no symlinks, one copy of each config.
    packages=PACKAGES,
    package_dir={"softpool3d.datasets": "datasets", "softpool3d.models": "models",
                 "softpool3d.configs": "configs"},
    package_data={"softpool3d.configs": ["**/*.yaml"]},
    python_requires=">=3.10",
    entry_points={"console_scripts": [
        f"softpool3d-{name.replace('_', '-')}=softpool3d.cli.{name}:main" for name in TOOLS]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
