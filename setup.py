"""Only the extension list and compiler flags (metadata lives in pyproject.toml).

Every ``srpfast/_*.pyx`` becomes one extension module. Its first lines name the plain-C files
of ``csrc/`` it links, as ``# csrc: frame.c sha256.c`` (compiled in, hidden visibility), so
adding a Cython module needs no edit here and one module's C never breaks another's build.
Environment switches:
  SRPFAST_EXT=_frame,_cache   build only these modules (parallel development)
  SRPFAST_SANITIZE=1          build with ASan/UBSan (used by `make fuzz`)
  SRPFAST_DEBUG=1             -O0 -g
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

csrc = sorted(glob.glob("csrc/*.c"))
cflags = ["-O3", "-std=c11", "-fvisibility=hidden", "-D_GNU_SOURCE", "-Wno-unused-function"]
ldflags = []
if os.environ.get("SRPFAST_DEBUG"):
    cflags = [f for f in cflags if f != "-O3"] + ["-O0", "-g"]
if os.environ.get("SRPFAST_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    cflags += san
    ldflags += san

only = {m for m in os.environ.get("SRPFAST_EXT", "").split(",") if m}
extensions = []
for pyx in sorted(glob.glob("srpfast/_*.pyx")):
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
            f"srpfast.{name}",
            sources=[pyx, *(f"csrc/{w}" for w in wanted)],
            include_dirs=["csrc"],
            libraries=["sodium"],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            depends=glob.glob("csrc/*.h") + glob.glob("srpfast/*.pxd"),
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
        quiet=True,
    )
)
