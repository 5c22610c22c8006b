"""The UI's files are served (or not) by the app, and every module they import ships in the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.server.ui import STATIC_DIR
from opsloop.settings import load_settings


def _client(tmp_path: Path, ui: bool) -> TestClient:
    settings = load_settings({"server": {"ui": ui}, "storage": {"data_dir": tmp_path}})
    return TestClient(create_app(settings))


def test_index_and_static_modules_are_served(tmp_path: Path) -> None:
    with _client(tmp_path, ui=True) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert '<script type="module" src="/static/app.js">' in index.text
        js = client.get("/static/app.js")
        assert js.status_code == 200
        assert "javascript" in js.headers["content-type"]
        assert js.headers["cache-control"] == "no-cache"
        assert client.get("/static/app.css").status_code == 200
        assert client.get("/static/../server/ui.py").status_code == 404


def test_ui_setting_off_serves_no_ui(tmp_path: Path) -> None:
    with _client(tmp_path, ui=False) as client:
        assert client.get("/").status_code == 404
        assert client.get("/static/app.js").status_code == 404
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize("module", sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js")))
def test_every_imported_module_exists(module: str) -> None:
    source = (STATIC_DIR / module).read_text()
    targets = re.findall(r"""(?:from|import)\s*\(?\s*['"](\.{1,2}/[^'"]+)['"]""", source)
    for target in targets:
        assert (STATIC_DIR / module).parent.joinpath(target).resolve().is_file(), f"{module} imports missing {target}"


def test_index_references_only_shipped_files() -> None:
    index = (STATIC_DIR / "index.html").read_text()
    for ref in re.findall(r'(?:href|src)="/static/([^"]+)"', index):
        assert (STATIC_DIR / ref).is_file(), ref
