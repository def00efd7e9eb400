"""A real dagster-celery deployment for tests and benches, all on loopback: Debian's
redis-server as the broker (on a free port, its files in a temporary folder, never the
machine's own service), Celery workers started with ``dagster-celery worker start``, and
Dagster's instance on PostgreSQL (deploy/dagster-celery.yaml).

Every process started here runs in its own session and is stopped by its process group
id when the block ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from helpers import require

ROOT = Path(__file__).resolve().parent.parent
REDIS = "/usr/bin/redis-server"


def redis_missing() -> str | None:
    """Why the celery tests cannot run here, or None (scripts/ensure-redis installs
    redis-server when it can)."""
    if not Path(REDIS).exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-redis")], check=False)
    if not Path(REDIS).exists():
        return "redis-server is not installed (apt-get install redis-server)"
    if shutil.which("dagster-celery") is None:
        return "dagster-celery is not installed (pip install 'provenance-archive[distributed]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM to the process's group (a worker and its pool children), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of our own on 127.0.0.1 (no persistence); yields its URL prefix
    ``redis://127.0.0.1:PORT``."""
    require(redis_missing())
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (folder / "redis.log").open("wb")
    proc = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start: "
                                   + (folder / "redis.log").read_text("utf-8", "replace"))
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc)
        log.close()


def dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME holding deploy/dagster-celery.yaml as its dagster.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster-celery.yaml", folder / "dagster.yaml")
    return folder


@contextmanager
def celery_workers(names: Sequence[str], env: Mapping[str, str], logs: Path,
                   ) -> Iterator[list[str]]:
    """``dagster-celery worker start`` once per name (one task at a time each), as
    docs/deploy.md says; yields the workers' node names once every one answers a ping."""
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        procs = []
        for name in names:
            out = stack.enter_context((logs / f"{name}.log").open("wb"))
            procs.append(subprocess.Popen(
                ["dagster-celery", "worker", "start", "-A", "dagster_celery.app",
                 "-y", str(ROOT / "deploy" / "celery.yaml"), "-n", name, "--",
                 "--pool", "solo"],
                cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
        for proc in procs:
            stack.callback(_stop, proc)
        yield _wait_for(names, env["DAGSTER_CELERY_BROKER_URL"], procs, logs)


def _wait_for(names: Sequence[str], broker: str, procs: Sequence[subprocess.Popen[bytes]],
              logs: Path, timeout: float = 120.0) -> list[str]:
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + timeout
    try:
        while True:
            replies = app.control.ping(timeout=1.0) or []
            nodes = sorted(n for reply in replies for n in reply)
            if len(nodes) >= len(names):
                return nodes
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                text = "\n".join(f.read_text("utf-8", "replace")[-2000:]
                                 for f in sorted(logs.glob("*.log")))
                raise RuntimeError(f"celery workers not ready (answered: {nodes}):\n{text}")
    finally:
        app.close()


def worker_of_steps(instance: object, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that ran it, from the run's engine events (the
    dagster-celery task reports ``Celery worker`` when it starts a step)."""
    from dagster import DagsterInstance

    assert isinstance(instance, DagsterInstance)
    out: dict[str, str] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.is_engine_event or not event.step_key:
            continue
        data = event.engine_event_data
        worker = data.metadata.get("Celery worker") if data is not None else None
        if worker is not None:
            out[event.step_key] = str(worker.value)
    return out
