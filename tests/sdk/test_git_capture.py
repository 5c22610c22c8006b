"""Git commit, branch, dirty flag and diff captured on a run; no repo or no git means nothing captured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opsloop.sdk import Client
from opsloop.sdk.git import MAX_DIFF_BYTES, capture_git


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "trunk")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    _git(repo, "remote", "add", "origin", "https://example.com/team/model.git")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def test_commit_branch_and_diff_are_captured_on_the_run(client: Client, repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("lr = 0.05\n")  # uncommitted change
    with client.start_run(experiment="git", git_dir=repo) as run:
        run.log_metric("loss", 1.0)
    tags = client.get_run(run.id).tags
    assert tags["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "trunk"
    assert tags["mlflow.source.git.repoURL"] == "https://example.com/team/model.git"
    assert tags["opsloop.source.git.dirty"] == "true"
    diff = client.download_artifacts(run.id, "code/git.diff", tmp_path / "dl").read_text()
    assert "-lr = 0.1" in diff and "+lr = 0.05" in diff


def test_clean_tree_is_not_dirty_and_uploads_no_diff(repo: Path) -> None:
    info = capture_git(repo)
    assert info is not None and not info.dirty and info.diff == b""


def test_outside_a_repo_nothing_is_captured(tmp_path: Path) -> None:
    assert capture_git(tmp_path) is None
    client = Client(data_dir=tmp_path / "store")
    with client.start_run(git_dir=tmp_path) as run:
        pass
    assert not any(k.startswith("mlflow.source.git") for k in client.get_run(run.id).tags)
    assert client.list_artifacts(run.id) == []
    client.close()


def test_without_a_git_executable_nothing_is_captured(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert capture_git(repo) is None


def test_the_diff_artifact_is_the_exact_bytes_git_prints(client: Client, repo: Path, tmp_path: Path) -> None:
    """A file in another encoding than UTF-8 (Latin-1 here) keeps its bytes, so ``git apply`` takes the diff back."""
    (repo / "notes.txt").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    _git(repo, "add", "notes.txt")
    _git(repo, "commit", "-q", "-m", "notes")
    (repo / "notes.txt").write_bytes("caf\xe9 = 2\n".encode("latin-1"))
    with client.start_run(experiment="git", git_dir=repo) as run:
        pass
    expected = subprocess.run(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd=repo, check=True,
                              capture_output=True).stdout
    assert b"caf\xe9 = 2" in expected
    assert client.download_artifacts(run.id, "code/git.diff", tmp_path / "dl").read_bytes() == expected


def test_in_a_jupyter_kernel_the_notebooks_folder_is_captured(repo: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel's ``sys.argv[0]`` is ipykernel's launcher in site-packages; the notebook runs in its folder."""
    launcher = tmp_path / "site-packages" / "ipykernel_launcher.py"
    launcher.parent.mkdir()
    launcher.write_text("")
    monkeypatch.setattr("sys.argv", [str(launcher), "-f", "kernel.json"])
    monkeypatch.chdir(repo)
    info = capture_git()
    assert info is not None and info.commit == _git(repo, "rev-parse", "HEAD")


def test_a_diff_over_the_limit_is_not_uploaded_and_a_tag_says_so(client: Client, repo: Path) -> None:
    """A changed data file under git made a diff of 118 MB, uploaded with every run: past ``MAX_DIFF_BYTES``
    (5 MiB) no diff is uploaded, not a cut one that would not apply, and the run says why."""
    line = "0.123456789,0.987654321,label\n"
    copies = MAX_DIFF_BYTES // len(line) // 2 + 1000  # removed and added: the diff holds every line twice
    (repo / "data.csv").write_text(line * copies)
    _git(repo, "add", "data.csv")
    _git(repo, "commit", "-q", "-m", "data")
    (repo / "data.csv").write_text(line.replace("label", "other") * copies)
    with client.start_run(experiment="git", git_dir=repo) as run:
        pass
    tags = client.get_run(run.id).tags
    assert tags["opsloop.source.git.dirty"] == "true"
    assert tags["opsloop.source.git.diff_omitted"] == f"larger than {MAX_DIFF_BYTES} bytes"
    assert client.list_artifacts(run.id) == []


def test_a_diff_within_the_limit_is_uploaded_whole(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.05\n" * 50)
    expected = subprocess.run(["git", "diff", "HEAD"], cwd=repo, check=True, capture_output=True).stdout
    info = capture_git(repo, max_diff_bytes=len(expected))
    assert info is not None and info.diff == expected and info.diff_omitted is None
    assert "opsloop.source.git.diff_omitted" not in info.tags()
    cut = capture_git(repo, max_diff_bytes=len(expected) - 1)
    assert cut is not None and cut.diff == b"" and cut.diff_omitted == f"larger than {len(expected) - 1} bytes"
