"""Source-control facts about the code that started a run: commit, branch, dirty flag and diff.

Outside a git work tree, or without a ``git`` executable, nothing is captured and nothing fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitInfo", "capture_git", "default_source_dir"]

COMMIT_TAG = "mlflow.source.git.commit"
BRANCH_TAG = "mlflow.source.git.branch"
REPO_URL_TAG = "mlflow.source.git.repoURL"
DIRTY_TAG = "opsloop.source.git.dirty"
DIFF_ARTIFACT = "code/git.diff"
_JUPYTER_LAUNCHER = "ipykernel_launcher.py"


@dataclass(frozen=True, slots=True)
class GitInfo:
    commit: str
    branch: str | None
    repo_url: str | None
    dirty: bool
    diff: bytes

    def tags(self) -> dict[str, str]:
        """The run tags MLflow's UI shows (plus opsloop's dirty flag)."""
        tags = {COMMIT_TAG: self.commit, DIRTY_TAG: "true" if self.dirty else "false"}
        if self.branch:
            tags[BRANCH_TAG] = self.branch
        if self.repo_url:
            tags[REPO_URL_TAG] = self.repo_url
        return tags


def _git_bytes(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _git(cwd: Path, *args: str) -> str | None:
    out = _git_bytes(cwd, *args)
    return None if out is None else out.decode("utf-8", errors="replace")


def default_source_dir() -> Path:
    """The folder of the script being run (as MLflow does), or the working directory: in a Jupyter kernel,
    whose script is ipykernel's launcher in site-packages, the working directory is the notebook's folder."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.is_file() and script.name != _JUPYTER_LAUNCHER:
        return script.resolve().parent
    return Path.cwd()


def capture_git(path: str | os.PathLike[str] | None = None) -> GitInfo | None:
    """Commit, branch, remote URL, dirty flag and ``git diff HEAD`` of the repo holding ``path``."""
    cwd = Path(path) if path is not None else default_source_dir()
    if not cwd.is_dir():
        return None
    commit = _git(cwd, "rev-parse", "HEAD")
    if not commit:
        return None
    branch = (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") or ""
    diff = _git_bytes(cwd, "diff", "HEAD", "--no-color", "--no-ext-diff") or b""  # bytes: files in any encoding
    remote = (_git(cwd, "config", "--get", "remote.origin.url") or "").strip()
    return GitInfo(commit=commit.strip(), branch=branch if branch and branch != "HEAD" else None,
                   repo_url=remote or None, dirty=bool(status.strip()), diff=diff)
