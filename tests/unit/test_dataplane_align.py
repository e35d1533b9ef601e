"""csrc/bigalloc.h's srp_big_calloc must return 64-byte aligned memory on every path (a table
may require it; struct srp_dataplane did while its seen filter lived at its end): pages in a
normal build, and its allocator fallback, taken by sanitizer builds (SRPFAST_SANITIZE) and
tables under SRP_BIG_MIN. The data plane (its seen filter now in pages of its own, grown as
copies come) is built and freed under UBSan too. Built here with UBSan alone: ASan's
allocator happens to align large blocks, which hid the misalignment from tools/santest.sh
and fuzz/ (calloc gave 16 bytes and UBSan reported every member access)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "csrc"

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include "bigalloc.h"
#include "cache.h"
#include "dataplane.h"

int main(void) {
    srp_cache *c = srp_cache_new(1 << 20, 0.125);
    if (!c) return 2;
    for (unsigned k = 0; k < 4; k++) {  /* several, so a lucky first block proves nothing */
        srp_dataplane *dp = srp_dp_new(c, 3, 8, 42 + k);
        if (!dp) return 3;
        srp_dp_free(dp);
    }
    for (size_t n = 0; n < 300000; n = n * 3 + 1) {  /* the fallback at any size */
        void *p = srp_big_calloc(1, n);
        if (!p && n) return 4;
        if ((uintptr_t)p % 64) return 5;
        for (size_t i = 0; i < n; i++) if (((unsigned char *)p)[i]) return 6;
        srp_big_free(p, 1, n);
    }
    srp_cache_free(c);
    puts("aligned");
    return 0;
}
"""


@pytest.mark.parametrize("sanitize", [True, False])
def test_dataplane_and_big_calloc_are_line_aligned(tmp_path, sanitize):
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    src = tmp_path / "align.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "align"
    flags = ["-DSRPFAST_SANITIZE", "-fsanitize=undefined", "-fno-sanitize-recover=all"] \
        if sanitize else []
    c_files = [str(CSRC / f) for f in ("dataplane.c", "cache.c", "cache_batch.c",
                                       "cache_query.c", "seen.c", "frame.c", "sha256.c")]
    built = subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", *flags,
                            "-I", str(CSRC), "-o", str(exe), str(src), *c_files, "-lm"],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "aligned", run.stderr
