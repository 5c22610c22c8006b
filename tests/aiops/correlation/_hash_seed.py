"""Run a script in a fresh Python process with a given string hash seed, and read the JSON it prints:
how the correlation tests show that a result does not depend on the order Python iterates a set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_with_hash_seed(script: str, seed: str) -> Any:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
