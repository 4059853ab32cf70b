"""Misbehaving Hub servers on 127.0.0.1 for ``tests/test_hub_safety.py``.

* :class:`StalledServer` accepts TCP connections and never answers a byte (a hung or black-holed endpoint).
* :class:`FakeHub` is a minimal Hub-compatible server for one model repo (the four routes ``huggingface_hub``
  uses to download: revision info, tree listing, ``HEAD``/``GET`` of ``/resolve/``), whose answers can be made
  hostile one at a time: a commit id that is a path, an ``ETag`` that is a path, another commit than asked for, a
  stall before the headers or in the middle of a body, a 503. It answers faithfully by default (a test checks that
  a download through it works), so a refusal in another test is the zoo's doing, not a broken fake.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class StalledServer:
    """Listens on 127.0.0.1, accepts every connection, reads nothing and answers nothing until stopped."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the 0.2 s accept timeout, or the socket closed by stop()
                continue
            self.accepted += 1
            self.held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


class FakeHub:
    """One model repo ``repo_id`` at commit ``commit`` holding ``files`` (name -> bytes), served over HTTP.

    Hostile knobs (all off by default): ``revision_sha`` (what ``/api/models/.../revision/<rev>`` calls the commit),
    ``commit_header`` (the ``X-Repo-Commit`` of ``/resolve/`` answers), ``etag`` (name -> the ``ETag`` sent),
    ``stall`` (a set of route names that never answer: ``revision``, ``tree``, ``head``, ``get``, or ``body``:
    send the headers and half the body, then nothing), ``status`` (route name -> an error status to answer).
    ``requests`` records ``(method, path)`` of every request.
    """

    def __init__(self, repo_id: str, commit: str, files: dict[str, bytes]) -> None:
        self.repo_id, self.commit, self.files = repo_id, commit, files
        self.revision_sha: str | None = None
        self.commit_header: str | None = None
        self.etag: dict[str, str] = {}
        self.stall: set[str] = set()
        self.status: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()  # set on stop: stalled handlers return
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub._answer(self, "GET")

            def do_HEAD(self) -> None:
                hub._answer(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self, route: str) -> int:
        return sum(1 for _, path in self.requests if self._route(path)[0] == route)

    def _route(self, path: str) -> tuple[str, str]:
        repo = f"/api/models/{self.repo_id}/"
        if path.startswith(repo + "revision/"):
            return "revision", path[len(repo + "revision/") :]
        if path.startswith(repo + "tree/"):
            return "tree", path[len(repo + "tree/") :]
        prefix = f"/{self.repo_id}/resolve/"
        if path.startswith(prefix):
            return "resolve", path[len(prefix) :]
        return "unknown", path

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlsplit(h.path).path)
        self.requests.append((method, path))
        route, rest = self._route(path)
        name = {"resolve": "head" if method == "HEAD" else "get"}.get(route, route)
        if name in self.stall:
            self.release.wait(120)
            return
        if name in self.status:
            self._send(h, self.status[name], b'{"error": "injected"}', {"Content-Type": "application/json"})
            return
        if route == "revision":
            body = {"id": self.repo_id, "sha": self.revision_sha or self.commit, "siblings": []}
            self._send(h, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        elif route == "tree":
            items = [
                {"type": "file", "path": n, "size": len(d), "oid": git_blob_id(d)}
                for n, d in self.files.items()
            ]
            self._send(h, 200, json.dumps(items).encode(), {"Content-Type": "application/json"})
        elif route == "resolve":
            commit, _, filename = rest.partition("/")
            data = self.files.get(filename)
            if data is None or commit != self.commit:
                self._send(h, 404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit})
                return
            headers = {
                "X-Repo-Commit": self.commit_header or self.commit,
                "ETag": self.etag.get(filename, f'"{git_blob_id(data)}"'),
                "Content-Type": "application/octet-stream",
            }
            if method == "GET" and "body" in self.stall:
                h.send_response(200)
                for k, v in headers.items():
                    h.send_header(k, v)
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data[: len(data) // 2])
                h.wfile.flush()
                self.release.wait(120)
                return
            self._send(h, 200, data, headers)
        else:
            self._send(h, 404, b"", {"X-Error-Code": "RepoNotFound"})


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def files_under(root: Path) -> set[Path]:
    """Every file and link below ``root`` (what a test compares before and after to see what was written)."""
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}
