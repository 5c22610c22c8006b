"""Source-control facts about the code that started a run: commit, branch, dirty flag and diff.

Outside a git work tree, or without a ``git`` executable, nothing is captured and nothing fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_DIFF_BYTES", "GitInfo", "capture_git", "default_source_dir"]

COMMIT_TAG = "mlflow.source.git.commit"
BRANCH_TAG = "mlflow.source.git.branch"
REPO_URL_TAG = "mlflow.source.git.repoURL"
DIRTY_TAG = "opsloop.source.git.dirty"
DIFF_OMITTED_TAG = "opsloop.source.git.diff_omitted"
DIFF_ARTIFACT = "code/git.diff"
MAX_DIFF_BYTES = 5 * 1024 * 1024  # a diff past this is not uploaded (a cut one would not apply); a tag says so
_JUPYTER_LAUNCHER = "ipykernel_launcher.py"


@dataclass(frozen=True, slots=True)
class GitInfo:
    commit: str
    branch: str | None
    repo_url: str | None
    dirty: bool
    diff: bytes
    diff_omitted: str | None = None  # why ``diff`` is empty although the tree is dirty (too large, too slow)

    def tags(self) -> dict[str, str]:
        """The run tags MLflow's UI shows (plus opsloop's dirty flag, and why no diff was kept)."""
        tags = {COMMIT_TAG: self.commit, DIRTY_TAG: "true" if self.dirty else "false"}
        if self.diff_omitted:
            tags[DIFF_OMITTED_TAG] = self.diff_omitted
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


def _diff(cwd: Path, max_bytes: int) -> tuple[bytes, str | None]:
    """``git diff HEAD`` as bytes (files in any encoding), or no bytes and why: git is stopped as soon as
    its output passes ``max_bytes``, so a huge diff (a changed data file) costs neither the time to make
    it nor its memory."""
    try:
        proc = subprocess.Popen(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return b"", None
    assert proc.stdout is not None
    with proc:
        data = proc.stdout.read(max_bytes + 1)
        if len(data) > max_bytes:
            proc.kill()
            return b"", f"larger than {max_bytes} bytes"
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return b"", "git diff did not finish in 10 s"
    return (data, None) if proc.returncode == 0 else (b"", None)


def default_source_dir() -> Path:
    """The folder of the script being run (as MLflow does), or the working directory: in a Jupyter kernel,
    whose script is ipykernel's launcher in site-packages, the working directory is the notebook's folder."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.is_file() and script.name != _JUPYTER_LAUNCHER:
        return script.resolve().parent
    return Path.cwd()


def capture_git(path: str | os.PathLike[str] | None = None, *, max_diff_bytes: int = MAX_DIFF_BYTES) -> GitInfo | None:
    """Commit, branch, remote URL, dirty flag and ``git diff HEAD`` of the repo holding ``path``.

    A diff larger than ``max_diff_bytes`` is not kept (``diff`` is empty and ``diff_omitted`` says why).
    """
    cwd = Path(path) if path is not None else default_source_dir()
    if not cwd.is_dir():
        return None
    commit = _git(cwd, "rev-parse", "HEAD")
    if not commit:
        return None
    branch = (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no") or ""
    diff, omitted = _diff(cwd, max_diff_bytes) if status.strip() else (b"", None)
    remote = (_git(cwd, "config", "--get", "remote.origin.url") or "").strip()
    return GitInfo(commit=commit.strip(), branch=branch if branch and branch != "HEAD" else None,
                   repo_url=remote or None, dirty=bool(status.strip()), diff=diff, diff_omitted=omitted)
