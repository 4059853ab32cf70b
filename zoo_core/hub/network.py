"""Bounded, checked Hub traffic: names validated before use, every wait limited, server answers vetted.

Every Hub call the zoo makes (download, resolve a revision, publish) runs inside :func:`bounded_hub`. For the
duration of that call only, ``huggingface_hub``'s shared HTTP client is one made by its own client factory (the
user's, if they set one) with every transport wrapped in a guard (afterwards the user's factory and client are back,
untouched). The guard

* limits every connect, read, write and pool wait to what is left of the *idle budget*: the Hub must send
  something at least every ``timeout`` seconds (:func:`hub_timeout`: ``timeout=``, else ``ZOO_HUB_TIMEOUT``, else
  :data:`DEFAULT_TIMEOUT_S`), counted from the start of the zoo's call, so a server that accepts the connection and
  never answers is given up after ``timeout`` seconds, not after the client's retries;
* turns a stall, a refused connection or a "try again later" status (408, 429, 5xx) into :class:`HubTransferError`
  at once. ``huggingface_hub`` does not catch it, so none of its retry loops (up to five more tries with back-off)
  runs; the zoo falls back on the cache itself where that is right;
* refuses answers that would become paths in the cache: a commit id (``X-Repo-Commit``) that is not 40 hex digits
  or not the commit asked for, an ``ETag`` that is not one plain file name.

``hf_xet`` transfers (their own network stack, outside this client) are switched off for the call, so files come
over plain HTTP through the guarded client. Another thread using ``huggingface_hub`` during a zoo call shares the
guarded client; nothing outlives the call.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError, WeightsError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "HubTransferError",
    "bounded_hub",
    "check_repo_id",
    "check_revision",
    "hub_timeout",
    "is_commit",
]

#: seconds the Hub may stay silent (connect, each read, each write) before a call gives up
DEFAULT_TIMEOUT_S = 10.0
#: environment variable that overrides :data:`DEFAULT_TIMEOUT_S`
TIMEOUT_ENV = "ZOO_HUB_TIMEOUT"

_COMMIT = re.compile(r"[0-9a-f]{40}")
# a repo id component as the Hub allows it: letters, digits, '-', '_', '.', not starting or ending with '-' or '.'
_REPO_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
# a git ref component: no leading '.' or '-', none of git's forbidden characters (space ~ ^ : ? * [ \ @{ ...)
_REF_PART = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*")
_MAX_REF = 255
# what huggingface_hub may use as one file name in the cache (an ETag becomes ``blobs/<etag>``)
_FILE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
_RETRY_LATER = frozenset({408, 429, 500, 502, 503, 504})


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit id (40 lower-case hex digits)."""
    return isinstance(revision, str) and _COMMIT.fullmatch(revision) is not None


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is ``owner/name`` as the Hub spells them, else raise :class:`WeightsError`.

    Each part: letters, digits, ``-``, ``_``, ``.``, at most 96 characters, not starting or ending with ``-`` or
    ``.``, no ``--`` or ``..`` (the cache folder is ``models--owner--name``: a ``--`` would make it ambiguous, a
    ``..`` could climb out of it).
    """
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if (
        len(parts) != 2
        or not all(_REPO_PART.fullmatch(p) for p in parts)
        or any("--" in p or ".." in p for p in parts)
    ):
        raise WeightsError(
            f"hf://{repo_id}: a Hub source is 'hf://owner/name[@revision]' (owner and name: letters, digits, "
            "'-', '_', '.', at most 96 characters, no '--' or '..')"
        )
    return repo_id


def check_revision(revision: str, where: str = "") -> str:
    """Return ``revision`` if it is a 40-hex commit id or a valid git ref name, else raise :class:`WeightsError`.

    Ref names follow ``git check-ref-format`` (restricted to letters, digits and ``._+-`` between ``/``): no empty
    component, none starting with ``.`` or ``-`` or ending with ``.`` or ``.lock``, no ``..``, at most 255
    characters. So a revision can never name a path outside the cache's ``refs/`` folder.
    """
    parts = revision.split("/") if isinstance(revision, str) else []
    ok = (
        0 < len(revision or "") <= _MAX_REF
        and all(_REF_PART.fullmatch(p) for p in parts)
        and ".." not in revision
        and not any(p.endswith((".", ".lock")) for p in parts)
    )
    if not ok:
        raise WeightsError(
            f"{where or 'revision'}: revision {revision!r} is neither a commit id (40 hex digits) nor a valid "
            "branch or tag name (letters, digits, '._+-' between '/', no '..', no leading '.' or '-')"
        )
    return revision


def hub_timeout(timeout: float | None = None) -> float:
    """The Hub idle limit in seconds: ``timeout`` if given, else ``$ZOO_HUB_TIMEOUT``, else
    :data:`DEFAULT_TIMEOUT_S`. Raises :class:`ConfigError` for anything but a finite positive number."""
    where = "timeout"
    value: Any = timeout
    if value is None:
        value = os.environ.get(TIMEOUT_ENV, "").strip() or DEFAULT_TIMEOUT_S
        where = TIMEOUT_ENV if TIMEOUT_ENV in os.environ else where
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{where}={value!r}: the Hub timeout is a positive number of seconds, e.g. 10")
    return seconds


class HubTransferError(Exception):
    """The Hub stalled, could not be reached, asked to retry later, or sent an answer the zoo refuses.

    Deliberately not an ``OSError``/``httpx`` error: ``huggingface_hub`` lets it through untouched, so no retry
    loop of its own runs. ``kind`` is ``"timeout"``, ``"unreachable"``, ``"unavailable"`` or ``"unsafe"``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Budget:
    """The idle budget of one zoo Hub call: ``timeout`` seconds from the last sign of life (or the start)."""

    def __init__(self, timeout: float, started: float | None = None) -> None:
        self.timeout = timeout
        self.last = time.monotonic() if started is None else started
        self.commit: str | None = None  # once set: the only commit id the server may name

    def touch(self) -> None:
        self.last = time.monotonic()

    def left(self) -> float:
        return self.timeout - (time.monotonic() - self.last)

    def stalled(self, url: Any) -> HubTransferError:
        return HubTransferError("timeout", f"no answer from {_origin(url)} for {self.timeout:g} s")


def _origin(url: Any) -> str:
    try:
        return f"{url.scheme}://{url.netloc.decode()}"
    except (AttributeError, UnicodeDecodeError):
        return str(url)


def _normalized_etag(value: str) -> str:
    return value.lstrip("W/").strip('"')  # exactly as huggingface_hub turns an ETag into a blob name


def _vet(request: Any, response: Any, budget: _Budget) -> None:
    """Refuse header values that huggingface_hub would turn into paths inside the cache."""
    headers = response.headers
    commit = headers.get("x-repo-commit")
    if commit is not None:
        if not is_commit(commit):
            raise HubTransferError("unsafe", f"the server named the commit {commit!r}, not 40 hex digits")
        if budget.commit is not None and commit != budget.commit:
            raise HubTransferError(
                "unsafe", f"the server answered for commit {commit} to a request pinned to {budget.commit}"
            )
    if "/resolve/" in request.url.path:
        for name in ("x-linked-etag", "etag", "x-xet-hash"):
            value = headers.get(name)
            if value is not None and not _FILE_COMPONENT.fullmatch(_normalized_etag(value)):
                raise HubTransferError(
                    "unsafe", f"the server sent the {name} {value!r}, not a plain file name"
                )


def _guarded_client(budget: _Budget, factory: Any) -> Any:
    """The client ``factory`` (huggingface_hub's, or the user's) makes, each of its transports behind a guard
    that bounds and vets every request (see the module docstring)."""
    import httpx2  # huggingface_hub's HTTP client, loaded only with it

    class _GuardedStream(httpx2.SyncByteStream):
        def __init__(self, inner: Any, url: Any) -> None:
            self.inner, self.url = inner, url

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in self.inner:
                    budget.touch()
                    yield chunk
            except httpx2.TimeoutException as exc:
                raise budget.stalled(self.url) from exc
            except httpx2.TransportError as exc:
                raise HubTransferError(
                    "unreachable", f"{_origin(self.url)}: {type(exc).__name__}: {exc}"
                ) from exc

        def close(self) -> None:
            self.inner.close()

    class _GuardedTransport(httpx2.BaseTransport):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def handle_request(self, request: Any) -> Any:
            left = budget.left()
            if left <= 0:
                raise budget.stalled(request.url)
            request.extensions["timeout"] = dict.fromkeys(("connect", "read", "write", "pool"), left)
            try:
                response = self.inner.handle_request(request)
            except httpx2.TimeoutException as exc:
                raise budget.stalled(request.url) from exc
            except httpx2.TransportError as exc:
                raise HubTransferError(
                    "unreachable", f"{_origin(request.url)}: {type(exc).__name__}: {exc}"
                ) from exc
            budget.touch()
            try:
                _vet(request, response, budget)
                if response.status_code in _RETRY_LATER:
                    raise HubTransferError(
                        "unavailable", f"{_origin(request.url)} answered HTTP {response.status_code}"
                    )
            except HubTransferError:
                response.close()
                raise
            response.stream = _GuardedStream(response.stream, request.url)
            return response

        def close(self) -> None:
            self.inner.close()

    client = factory()
    inner = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if not isinstance(inner, httpx2.BaseTransport) or not isinstance(mounts, dict):
        # a client whose transports cannot be reached: huggingface_hub's default one, guarded
        from huggingface_hub.utils import _http  # its default client factory

        client.close()
        client = _http.default_client_factory()
        inner, mounts = client._transport, client._mounts
    client._transport = _GuardedTransport(inner)
    client._mounts = {k: (_GuardedTransport(v) if v is not None else None) for k, v in mounts.items()}
    client.timeout = httpx2.Timeout(budget.timeout)
    return client


_LOCK = threading.RLock()


@contextlib.contextmanager
def bounded_hub(timeout: float, started: float | None = None) -> Iterator[_Budget]:
    """Within the block, huggingface_hub's traffic is bounded and vetted (see the module docstring).

    ``started`` (``time.monotonic()``) is when the zoo's call began: the first wait is what is left of
    ``timeout`` from then. Yields the call's budget; set ``budget.commit`` once a revision is resolved so that
    the server cannot switch commits under the download. On exit huggingface_hub's client factory, its shared
    client (never closed by us) and its xet switch are exactly as before.
    """
    from huggingface_hub import constants  # loaded only when the Hub is used
    from huggingface_hub.utils import _http  # where the shared client and its factory live

    budget = _Budget(timeout, started)
    swap = (
        _swap_private
        if all(hasattr(_http, n) for n in ("_CLIENT_LOCK", "_GLOBAL_CLIENT_FACTORY", "_GLOBAL_CLIENT"))
        else _swap_public
    )
    with _LOCK:  # one bounded call at a time: the client factory is process-wide
        xet = constants.HF_HUB_DISABLE_XET
        constants.HF_HUB_DISABLE_XET = True  # hf_xet has its own network stack, outside the guard
        try:
            with swap(_http, budget):
                yield budget
        finally:
            constants.HF_HUB_DISABLE_XET = xet


@contextlib.contextmanager
def _swap_private(http: Any, budget: _Budget) -> Iterator[None]:
    """Set huggingface_hub's shared client aside (not closed) and its factory to a guarded one; put both back."""
    with http._CLIENT_LOCK:
        saved = (http._GLOBAL_CLIENT_FACTORY, http._GLOBAL_CLIENT)
        http._GLOBAL_CLIENT_FACTORY = lambda: _guarded_client(budget, saved[0])
        http._GLOBAL_CLIENT = None
    try:
        yield
    finally:
        with http._CLIENT_LOCK:
            ours = http._GLOBAL_CLIENT
            http._GLOBAL_CLIENT_FACTORY, http._GLOBAL_CLIENT = saved
        if ours is not None and ours is not saved[1]:
            ours.close()


@contextlib.contextmanager
def _swap_public(http: Any, budget: _Budget) -> Iterator[None]:
    """The same through the public ``set_client_factory`` (a huggingface_hub without the private names): the
    user's shared client is closed on the way in and out (it is re-created on next use)."""
    previous = getattr(http, "_GLOBAL_CLIENT_FACTORY", http.default_client_factory)
    http.set_client_factory(lambda: _guarded_client(budget, previous))
    try:
        yield
    finally:
        http.set_client_factory(previous)
