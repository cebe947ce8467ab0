"""`make demo`: the real job against a local registry that this script starts itself.

1. start Debian's `docker-registry` on localhost:5000 with storage under .demo/ (kept, so a
   second run finds the alias in place and reconcile has nothing to do);
2. push the seed images my-image:10.10 (linux/amd64) and my-image:10.20 (linux/arm64/v8);
3. run `reconcile --dry-run`, then `reconcile`, with the top-level manifests.yaml;
4. show the alias's index and which child a linux/amd64 and a linux/arm64 machine pulls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler._model import platforms  # noqa: E402
from reconciler._model.oci import MANIFEST_ACCEPT, Descriptor, Platform  # noqa: E402
from tests.support.images import push_image  # noqa: E402

HOST = "localhost:5000"
URL = "http://127.0.0.1:5000"
STATE = ROOT / ".demo"
BIN = Path(sys.executable).parent


def main() -> int:
    registry = start_registry()
    try:
        step("pushing the seed images (small generated single-platform images)")
        tags = {}
        for tag, platform in (("10.10", "linux/amd64"), ("10.20", "linux/arm64/v8")):
            pushed = push_image(URL, "my-image", tag, platform=platform, seed="demo")
            tags[pushed.digest] = tag
            print(f"    {HOST}/my-image:{tag:<6} {platform:<15} {pushed.digest}")
        reconcile("--dry-run")
        reconcile()
        show_alias("my-image", "10", tags)
        reconcile()  # nothing drifted: no writes
    finally:
        registry.terminate()
        registry.wait(timeout=10)
    return 0


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def start_registry() -> subprocess.Popen[bytes]:
    step(f"starting docker-registry on {HOST} (storage: {STATE / 'storage'})")
    STATE.mkdir(exist_ok=True)
    config = STATE / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {STATE / 'storage'}}}}}\n"
        "http: {addr: '127.0.0.1:5000'}\n"
    )
    log = (STATE / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"docker-registry exited; is port 5000 in use? see {STATE / 'registry.log'}")
        try:
            httpx.get(URL + "/v2/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    sys.exit("docker-registry did not start within 10 s")


def reconcile(*args: str) -> None:
    command = ["reconcile", "-f", "manifests.yaml", *args]
    step(" ".join(command))
    env = {**os.environ, "DOCKER_CONFIG": str(STATE / "docker-config")}
    done = subprocess.run([str(BIN / "reconcile"), *command[1:]], cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"reconcile exited with {done.returncode}")


def show_alias(repository: str, tag: str, tags: dict[str, str]) -> None:
    step(f"the alias {HOST}/{repository}:{tag}")
    answer = httpx.get(
        f"{URL}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
    )
    answer.raise_for_status()
    index = answer.json()
    print(json.dumps(index, indent=2))
    step("which image each machine pulls (containerd's platform matching)")
    entries = [
        Descriptor(e["mediaType"], e["digest"], e["size"], Platform.from_json(e["platform"]))
        for e in index["manifests"]
    ]
    for host in ("linux/amd64", "linux/arm64", "linux/arm/v7"):
        chosen = platforms.select(platforms.parse(host), entries)
        pulled = f"{chosen.digest}  (my-image:{tags.get(chosen.digest, '?')})" if chosen else "none"
        print(f"    {host:<13} -> {pulled}")


if __name__ == "__main__":
    raise SystemExit(main())
