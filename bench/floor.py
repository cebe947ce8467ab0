"""The floor: bare clients sending the same HEAD requests as reconcile, nothing else.

Run as a child process (``python -m bench.floor``), so its CPU and RSS are its own:

    python -m bench.floor --url http://127.0.0.1:PORT --paths paths.txt --concurrency 16 \\
        --client http.client

Clients: `http.client` (one persistent connection per thread, the floor for Python),
`urllib3` (one `urllib3.PoolManager` shared by threads: the library under reconcile's
transport, bare), `httpx` (one `httpx.Client` shared by threads), `httpx-per-thread` (one
single-connection `httpx.Client` per thread: the same library without a shared pool and its
lock), `httpx-lean` (one `httpx.Client` per thread on one reconciler transport) and
`httpx-async` (one `httpx.AsyncClient`, tasks bounded by a semaphore). The reconciler itself
sends through its transport without `httpx.Client` (see reconciler/_registry/http.py).
Prints one JSON object: requests, errors, wall seconds and CPU seconds of the request loop
alone (startup excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import urllib3

__all__ = ["CLIENTS", "main"]

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
Runner = Callable[[str, Sequence[str], int], int]  # (base url, paths, concurrency) -> errors


def run_http_client(url: str, paths: Sequence[str], concurrency: int) -> int:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    local = threading.local()

    def head(path: str) -> int:
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request("HEAD", path, headers={"Accept": ACCEPT})
        response = conn.getresponse()
        response.read()
        return 0 if response.status == 200 else 1

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(head, paths))


def run_urllib3(url: str, paths: Sequence[str], concurrency: int) -> int:
    """One `urllib3.PoolManager` shared by threads, a keep-alive connection per thread."""
    manager = urllib3.PoolManager(maxsize=concurrency, retries=False)
    headers = {"Accept": ACCEPT}

    def head(path: str) -> int:
        response = manager.request("HEAD", url + path, headers=headers, timeout=60)
        return 0 if response.status == 200 else 1

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(head, paths))
    finally:
        manager.clear()


def run_httpx(url: str, paths: Sequence[str], concurrency: int) -> int:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, limits=limits, trust_env=False, timeout=60) as client:

        def head(path: str) -> int:
            return 0 if client.head(path, headers={"Accept": ACCEPT}).status_code == 200 else 1

        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(head, paths))


def run_httpx_per_thread(url: str, paths: Sequence[str], concurrency: int) -> int:
    """One single-connection `httpx.Client` per thread: no pool shared between threads."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return _client_per_thread(
        lambda: httpx.Client(base_url=url, limits=limits, trust_env=False, timeout=60),
        paths,
        concurrency,
    )


def run_httpx_lean(url: str, paths: Sequence[str], concurrency: int) -> int:
    """One `httpx.Client` per thread on one reconciler transport (thread-safe, as reconcile
    shares it)."""
    from reconciler._registry.transport import RegistryTransport

    with RegistryTransport(max_connections=concurrency) as transport:
        return _client_per_thread(
            lambda: httpx.Client(base_url=url, transport=transport, timeout=60),
            paths,
            concurrency,
        )


def _client_per_thread(
    new_client: Callable[[], httpx.Client], paths: Sequence[str], concurrency: int
) -> int:
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def head(path: str) -> int:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = new_client()
            with lock:
                clients.append(client)
        return 0 if client.head(path, headers={"Accept": ACCEPT}).status_code == 200 else 1

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(head, paths))
    finally:
        for client in clients:
            client.close()


def run_httpx_async(url: str, paths: Sequence[str], concurrency: int) -> int:
    async def all_heads() -> int:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(
            base_url=url, limits=limits, trust_env=False, timeout=60
        ) as client:

            async def head(path: str) -> int:
                async with gate:
                    response = await client.head(path, headers={"Accept": ACCEPT})
                return 0 if response.status_code == 200 else 1

            return sum(await asyncio.gather(*(head(p) for p in paths)))

    return asyncio.run(all_heads())


CLIENTS: dict[str, Runner] = {
    "http.client": run_http_client,
    "urllib3": run_urllib3,
    "httpx": run_httpx,
    "httpx-per-thread": run_httpx_per_thread,
    "httpx-lean": run_httpx_lean,
    "httpx-async": run_httpx_async,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--paths", type=Path, required=True, help="one request path per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="http.client")
    args = parser.parse_args(argv)
    paths = args.paths.read_text().split()
    cpu, wall = time.process_time(), time.monotonic()
    errors = CLIENTS[args.client](args.url, paths, args.concurrency)
    result = {
        "client": args.client,
        "requests": len(paths),
        "errors": errors,
        "wall_s": time.monotonic() - wall,
        "loop_cpu_s": time.process_time() - cpu,
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
