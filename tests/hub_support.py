"""Support for ``tests/test_hub.py``: a real Hub-compatible server (olah) on 127.0.0.1 serving local git repos.

``olah`` (PyPI) is a self-hosted Hugging Face Hub mirror. With ``offline = true`` it never contacts
huggingface.co, and every directory ``<mirrors-path>/models/<owner>/<name>`` that is a git repository is served
as the model repo ``owner/name``: ``/api/models/{repo}/revision/{rev}``, ``/api/models/{repo}/tree/{rev}/``,
``/api/models/{repo}/refs`` and ``/{repo}/resolve/{rev}/{file}`` come straight from git, so branches, tags and
commit hashes all resolve the way they do on the Hub.

Quirks found (olah 0.5.x), which the tests do not depend on:

* a missing repo, revision or file answers **401** with ``X-Error-Code: RepoNotFound``, not 404;
* ``/api/models/{repo}`` (no revision) answers 401 in offline mode: ``model_info`` needs an explicit revision;
* ``/api/models/{repo}/tree/{rev}`` without a trailing slash answers a 307 redirect (huggingface_hub follows it);
* a GET of a file missing from the tree raises inside olah (500); HEAD is a clean 401;
* it writes logs under ``--log-path`` (default ``./logs``, relative to the working directory) and may create
  ``~/.olah``, so the server runs with its own HOME and log folder inside the test's temporary directory.

The only stand-in in these tests is :class:`GitCommitHfApi` (olah is read-only, so an upload cannot go through
it); everything else -- downloads, the cache, revisions, offline mode -- is the real huggingface_hub talking HTTP
to a real server.
"""

from __future__ import annotations

import fnmatch
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: total time allowed for olah to start answering (it imports FastAPI, uvicorn, GitPython: about 1 s here)
OLAH_START_TIMEOUT_S = 30.0
#: every git call made by the tests is bounded by this
GIT_TIMEOUT_S = 30.0

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "zoo-core tests",
    "GIT_AUTHOR_EMAIL": "tests@zoo-core.invalid",
    "GIT_COMMITTER_NAME": "zoo-core tests",
    "GIT_COMMITTER_EMAIL": "tests@zoo-core.invalid",
    # ignore the user's and the system's git configuration (signing, hooks, default branch, ...)
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: str | os.PathLike[str], *args: str) -> str:
    """Run ``git -C repo args...`` (bounded, isolated from user config); return its stripped stdout."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        env={**os.environ, **_GIT_ENV},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} in {repo} failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout.strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OlahServer:
    """One olah process on 127.0.0.1, offline, serving the git repositories under ``self.mirrors``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.mirrors = self.root / "mirrors"
        self.config = self.root / "olah.toml"
        self.log = self.root / "olah.out"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def repo_path(self, repo_id: str) -> Path:
        """Where the git repository of the model repo ``owner/name`` lies (olah's ``mirrors-path`` layout)."""
        owner, name = repo_id.split("/")
        return self.mirrors / "models" / owner / name

    def _write_config(self, port: int) -> None:
        self.config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {port}\n"
            f'repos-path = "{(self.root / "cache").as_posix()}"\n'
            f'mirrors-path = ["{self.mirrors.as_posix()}"]\n'
            # no reuse of resolved branch/tag metadata: the tests move refs
            "metadata-cache-ttl = 0\n"
            "\n[accessibility]\n"
            "offline = true\n"
        )

    def start(self, attempts: int = 3) -> OlahServer:
        """Start olah and wait until it answers HTTP; raise RuntimeError (with its log) if it cannot."""
        self.mirrors.mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        errors = []
        deadline = time.monotonic() + OLAH_START_TIMEOUT_S
        for _ in range(attempts):
            port = free_port()
            self._write_config(port)
            env = {
                **os.environ,
                "HOME": str(self.root / "home"),  # olah may create ~/.olah
                "PYTHONUNBUFFERED": "1",
                "HF_HUB_OFFLINE": "1",  # belt and braces: olah itself never needs huggingface.co here
            }
            env.pop("HF_ENDPOINT", None)
            cmd = [
                sys.executable,
                "-c",
                "import sys; from olah.server import cli; sys.exit(cli())",
                "--config",
                str(self.config),
                "--log-path",
                str(self.root / "logs"),
            ]
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.root, env=env
                )
            self.port = port
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return self
                time.sleep(0.1)
            errors.append(f"port {port}: exit code {self.proc.poll()}; log:\n{self._log_tail()}")
            self.stop()
            if time.monotonic() >= deadline:
                break
        raise RuntimeError(
            f"olah did not answer on 127.0.0.1 within {OLAH_START_TIMEOUT_S:.0f} s:\n" + "\n".join(errors)
        )

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", "/api/models/zoo-test/nothing/refs")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    def _log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def create_repo(self, repo_id: str) -> Path:
        """An empty served git repository on branch ``main`` with the Hub's initial ``.gitattributes`` commit."""
        path = self.repo_path(repo_id)
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        (path / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        git(path, "add", ".gitattributes")
        git(path, "commit", "-q", "-m", "initial commit")
        return path

    def commit_folder(self, repo_id: str, folder: str | os.PathLike[str], message: str = "weights") -> str:
        """Copy the files of ``folder`` into the served repo (created if needed), commit; return the commit sha."""
        path = self.repo_path(repo_id)
        if not path.exists():
            self.create_repo(repo_id)
        for f in sorted(Path(folder).iterdir()):
            if f.is_file():
                shutil.copyfile(f, path / f.name)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", message)
        return git(path, "rev-parse", "HEAD")


class GitCommitHfApi:
    """Stand-in for huggingface_hub.HfApi, the only one in these tests: olah is read-only, so uploads are committed straight into the git repository olah serves.

    Implements the two calls :func:`zoo_core.hub.push_to_hub` makes, with huggingface_hub's signatures and return
    types (``RepoUrl``, ``CommitInfo``), and records every call in ``self.calls``. Only model repos and the default
    branch are supported.
    """

    def __init__(self, server: OlahServer) -> None:
        self.server = server
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_repo(
        self,
        repo_id: str,
        *,
        private: bool = False,
        exist_ok: bool = False,
        repo_type: str | None = None,
        **kw: Any,
    ) -> Any:
        from huggingface_hub import RepoUrl

        self.calls.append(
            ("create_repo", {"repo_id": repo_id, "private": private, "exist_ok": exist_ok, **kw})
        )
        if repo_type not in (None, "model"):
            raise ValueError(f"stand-in serves model repos only, got repo_type={repo_type!r}")
        if self.server.repo_path(repo_id).exists():
            if not exist_ok:
                raise FileExistsError(f"{repo_id}: repository already exists (the Hub answers 409)")
        else:
            self.server.create_repo(repo_id)
        return RepoUrl(f"{self.server.url}/{repo_id}", endpoint=self.server.url)

    def upload_folder(
        self,
        *,
        folder_path: str | os.PathLike[str],
        repo_id: str,
        repo_type: str | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        allow_patterns: list[str] | str | None = None,
        **kw: Any,
    ) -> Any:
        from huggingface_hub import CommitInfo

        self.calls.append(
            (
                "upload_folder",
                {
                    "folder_path": str(folder_path),
                    "repo_id": repo_id,
                    "revision": revision,
                    "commit_message": commit_message,
                    "allow_patterns": allow_patterns,
                    **kw,
                },
            )
        )
        if repo_type not in (None, "model") or revision not in (None, "main"):
            raise ValueError("stand-in commits to the default branch of model repos only")
        path = self.server.repo_path(repo_id)
        if not path.exists():
            raise FileNotFoundError(f"{repo_id}: no such repository (create_repo first)")
        patterns = [allow_patterns] if isinstance(allow_patterns, str) else allow_patterns
        root = Path(folder_path)
        copied = []
        for f in sorted(root.rglob("*")):
            rel = f.relative_to(root).as_posix()
            if f.is_file() and (patterns is None or any(fnmatch.fnmatch(rel, p) for p in patterns)):
                dest = path / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
                copied.append(rel)
        git(path, "add", "--", *copied)
        message = commit_message or "Upload folder using huggingface_hub"
        git(path, "commit", "-q", "--allow-empty", "-m", message)
        oid = git(path, "rev-parse", "HEAD")
        return CommitInfo(
            commit_url=f"{self.server.url}/{repo_id}/commit/{oid}",
            commit_message=message,
            commit_description="",
            oid=oid,
            _endpoint=self.server.url,
        )


def point_hub_at(monkeypatch, endpoint: str, cache: Path, offline: bool = False) -> None:
    """Point huggingface_hub (already imported: it reads HF_ENDPOINT etc. at import time) at ``endpoint``, with
    ``cache`` as its cache, for the duration of one test (``monkeypatch`` restores everything)."""
    from huggingface_hub import HfApi, constants, hf_hub_url

    for var, value in (("HF_ENDPOINT", endpoint), ("HF_HUB_CACHE", str(cache))):
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    if hasattr(constants, "AGENT_HARNESSES_PATH"):  # huggingface_hub caches a registry file under HF_HOME
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(cache.parent / "agent_harnesses.json"))
    # the patch took: no request of the test can go anywhere but ``endpoint``
    assert HfApi().endpoint == endpoint
    assert hf_hub_url("owner/repo", "config.json", revision="v1").startswith(endpoint + "/")
    assert constants.is_offline_mode() is offline


def running_olah(root: str | os.PathLike[str]) -> Iterator[OlahServer]:
    """A started olah serving the git repos under ``root`` (for a pytest fixture: ``yield from``); a machine that
    cannot run it fails the test with the reason rather than skipping it."""
    import pytest  # only tests use this helper

    if shutil.which("git") is None:
        pytest.fail("the olah test server serves git repositories: install git", pytrace=False)
    server = OlahServer(root)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the olah test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
