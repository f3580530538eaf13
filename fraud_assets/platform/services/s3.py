"""An S3 endpoint for the parity lane: moto's server on 127.0.0.1, in its own process.

`python -m fraud_assets.platform.services.s3 --port N` runs moto's threaded WSGI
server. moto (5.x) honours `If-None-Match: *` on PutObject (412
`PreconditionFailed`, condition `If-None-Match`), but as check-then-act in
`S3Response.put_object` without a lock, so two concurrent conditional puts of one
key could in principle both succeed. Real S3 makes the conditional write atomic;
this process restores that by serialising conditional puts (`If-None-Match` /
`If-Match`) behind one lock. Unconditional requests are untouched.

moto keeps objects in memory only: a restart loses the bucket contents (like the
memory-only Tansu broker); `services up` recreates the bucket.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import fraud_assets
from fraud_assets.platform.services import stop_pid

HOST = "127.0.0.1"
log = logging.getLogger(__name__)


def endpoint_for(port: int) -> str:
    return f"http://{HOST}:{port}"


@dataclass(frozen=True)
class S3Handle:
    endpoint: str
    pid: int

    def stop(self, *, timeout_s: float = 10) -> None:
        stop_pid(self.pid, timeout_s=timeout_s)


def is_healthy(endpoint: str, *, timeout_s: float = 2) -> bool:
    """The endpoint answers an S3 ListBuckets with 200."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/", timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _package_root() -> str:
    return str(Path(fraud_assets.__file__).resolve().parents[1])


def start_s3(port: int, data_dir: Path, *, timeout_s: float = 30) -> S3Handle:
    """Start the moto server daemonised (own session); wait until it answers."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    endpoint = endpoint_for(port)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_package_root(), env.get("PYTHONPATH", "")] if p)
    with open(data_dir / "server.log", "ab") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fraud_assets.platform.services.s3", "--host", HOST, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            cwd=data_dir, env=env, start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + timeout_s
    while not is_healthy(endpoint, timeout_s=1):
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}; see {data_dir / 'server.log'}")
        if time.monotonic() > deadline:
            stop_pid(proc.pid)
            raise RuntimeError(f"moto server on {endpoint} not healthy after {timeout_s}s")
        time.sleep(0.1)
    return S3Handle(endpoint, proc.pid)


def ensure_bucket(endpoint: str, bucket: str) -> None:
    from fraud_assets.platform.objects.s3 import s3_client

    client = s3_client(endpoint)
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=bucket)


# ------------------------------------------------------------------ the server process


def serialise_conditional_puts() -> bool:
    """Make moto's conditional PutObject atomic (see module docstring)."""
    try:
        from moto.s3.responses import S3Response
    except ImportError:  # pragma: no cover
        return False
    original = getattr(S3Response, "put_object", None)
    if original is None or getattr(original, "_fa_serialised", False):
        return original is not None
    lock = threading.Lock()

    def put_object(self):  # type: ignore[no-untyped-def]
        if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
            with lock:
                return original(self)
        return original(self)

    put_object._fa_serialised = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]
    return True


def serve(host: str, port: int) -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patched = serialise_conditional_puts()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"moto S3 on http://{host}:{port} (conditional puts serialised: {patched})", flush=True)
    stop.wait()
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud_assets.platform.services.s3")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
