"""What a server start loads: SciPy only when a drift check first needs it (it was ~0.6 s of every start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_started_server_has_not_imported_scipy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from opsloop.server.app import create_app\n"
        "from opsloop.settings import load_settings\n"
        f"settings = load_settings({{'storage': {{'data_dir': {str(tmp_path)!r}}}}}, environ={{}})\n"
        "with TestClient(create_app(settings)) as c:\n"
        "    assert c.get('/health').status_code == 200\n"
        "    print(sorted(m for m in ('scipy', 'scipy.stats') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
