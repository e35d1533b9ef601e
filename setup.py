"""Only the extension list and compiler flags (metadata lives in pyproject.toml).

Every ``srpfast/**/_*.pyx`` becomes one extension module, named by its path
(``srpfast/wire/_frame.pyx`` -> ``srpfast.wire._frame``). Its first lines name the plain-C files
of ``csrc/`` it links, as ``# csrc: frame.c sha256.c`` (compiled in, hidden visibility), so
adding a Cython module needs no edit here and one module's C never breaks another's build.
A module may span files: the .pxi files its .pyx includes and the .pxd files it cimports
(srpfast/drivers/_udp.pyx) are build dependencies, never modules of their own.
Environment switches:
  SRPFAST_EXT=_frame,_cache   build only these modules (by file name; parallel development)
  SRPFAST_SANITIZE=1          build with ASan/UBSan (used by `make fuzz`)
  SRPFAST_DEBUG=1             -O0 -g
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HOW_TO_INSTALL = (
    "srpfast builds C extensions. Install a C compiler and the headers it needs, then retry:\n"
    "  Debian/Ubuntu: apt-get install gcc python3-dev libsodium-dev libxxhash-dev\n"
    "  Fedora/RHEL:   dnf install gcc python3-devel libsodium-devel xxhash-devel\n"
    "  Alpine:        apk add gcc musl-dev python3-dev libsodium-dev xxhash-dev\n"
    "  macOS:         xcode-select --install; brew install libsodium xxhash\n"
    "Or install a prebuilt wheel: pip install --only-binary srpfast srpfast")


def _check_toolchain() -> None:
    """Fail the build with what to install, never later with an ImportError (issue 16)."""
    if any(a in sys.argv for a in ("sdist", "egg_info", "--help", "clean")):
        return
    cc = (os.environ.get("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("gcc") is None:
        raise SystemExit(f"no C compiler found ({cc!r}).\n{HOW_TO_INSTALL}")
    compiler = cc if shutil.which(cc) else "gcc"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <sodium.h>\n#define XXH_INLINE_ALL\n#include <xxhash.h>\n"
                    "int main(void) { return sodium_init() < 0 || !XXH3_64bits(\"\", 0); }\n")
        cflags = os.environ.get("CFLAGS", "").split()
        ldflags = os.environ.get("LDFLAGS", "").split()
        probe = subprocess.run([compiler, *cflags, src, "-o", os.path.join(tmp, "probe"),
                                *ldflags, "-lsodium"], capture_output=True, text=True)
        if probe.returncode != 0:
            raise SystemExit("cannot compile against libsodium and xxhash:\n"
                             f"{probe.stderr.strip()[-800:]}\n{HOW_TO_INSTALL}")


_check_toolchain()
from Cython.Build import cythonize  # noqa: E402  (a build requirement: pyproject.toml)

csrc = sorted(glob.glob("csrc/*.c"))
cflags = ["-O3", "-std=c11", "-fvisibility=hidden", "-D_GNU_SOURCE", "-Wno-unused-function"]
# Release builds carry no debug symbols (a wheel was 6 MB, 21 MB installed: issue 16).
ldflags = [] if sys.platform == "darwin" else ["-s"]
if os.environ.get("SRPFAST_SYMBOLS"):  # optimised, but with symbols for perf/py-spy --native
    cflags += ["-g"]
    ldflags = []
if os.environ.get("SRPFAST_DEBUG"):
    cflags = [f for f in cflags if f != "-O3"] + ["-O0", "-g"]
    ldflags = []
if os.environ.get("SRPFAST_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    cflags += san
    ldflags = san

only = {m for m in os.environ.get("SRPFAST_EXT", "").split(",") if m}
PYX = sorted(glob.glob("srpfast/**/_*.pyx", recursive=True))
if not PYX or not csrc:
    # An sdist without its sources would otherwise "install" as a pure-Python wheel that
    # fails at import with a misleading error.
    raise SystemExit("srpfast/**/_*.pyx or csrc/*.c missing: this source tree is incomplete")
extensions = []
for pyx in PYX:
    name = os.path.splitext(os.path.basename(pyx))[0]
    if only and name not in only:
        continue
    with open(pyx) as f:
        head = [line for _, line in zip(range(10), f)]
    wanted = [w for line in head if line.startswith("# csrc:") for w in line[7:].split()]
    missing = [w for w in wanted if f"csrc/{w}" not in csrc]
    if missing:
        raise SystemExit(f"{pyx} names csrc files that do not exist: {missing}")
    extensions.append(
        Extension(
            os.path.splitext(pyx)[0].replace(os.sep, "."),
            sources=[pyx, *(f"csrc/{w}" for w in wanted)],
            include_dirs=["csrc"],
            libraries=["sodium"],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            depends=glob.glob("csrc/*.h") + glob.glob("srpfast/**/*.pxd", recursive=True)
            + glob.glob("srpfast/**/*.pxi", recursive=True),
        )
    )



class BuildExtSeparately(build_ext):
    """One object directory per extension. Several extensions compile the same csrc/*.c
    (frame.c, sha256.c, ...) with their own flags; in one shared build_temp, a parallel build
    (-j 2) let one extension link a sha256.o the other was rewriting (an undefined
    srp_sha256_3 in _dataplane, seen once). The directory is per thread: a parallel build
    runs build_extension in worker threads on this one command object, and setting the
    shared attribute around each call let one extension compile into, or link from, the
    other's directory (a _cache missing srp_seen_free after an incremental -j 2 build)."""

    _dirs = threading.local()

    @property  # type: ignore[override]
    def build_temp(self) -> str:
        return getattr(self._dirs, "temp", None) or self.__dict__.get("_build_temp")

    @build_temp.setter
    def build_temp(self, value: str) -> None:
        self.__dict__["_build_temp"] = value

    def build_extension(self, ext: Extension) -> None:
        self._dirs.temp = os.path.join(self.__dict__["_build_temp"], ext.name)
        try:
            super().build_extension(ext)
        finally:
            self._dirs.temp = None


setup(
    cmdclass={"build_ext": BuildExtSeparately},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        # Generated C goes to build/, not next to the sources: never packaged in a wheel.
        build_dir="build/cython",
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
        quiet=True,
    )
)
