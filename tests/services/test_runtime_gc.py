"""A long-lived process settles its garbage collector once started (services/runtime.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_settle_gc_freezes_what_start_up_built_and_raises_the_young_threshold() -> None:
    # In a child process: freezing the test process itself would pin every later test's objects.
    script = (
        "import gc; from services.runtime import GC_THRESHOLDS, settle_gc; "
        "before = gc.get_freeze_count(); settle_gc(); "
        "print(before, gc.get_freeze_count(), gc.get_threshold() == GC_THRESHOLDS, GC_THRESHOLDS[0])"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    before, frozen, thresholds_set, young = out.stdout.split()
    assert int(before) == 0 and int(frozen) > 10_000  # the imported modules' objects, at least
    assert thresholds_set == "True" and int(young) > 700  # above CPython's default young threshold
