"""Which Dagster executor runs a run's steps, from the environment.

``ARCHIVE_DAGSTER_EXECUTOR``:

- ``multiprocess`` (default): Dagster's own, every step a process on the run's machine.
- ``celery``: dagster-celery (the ``distributed`` extra). Each step is a Celery task on
  the broker ``DAGSTER_CELERY_BROKER_URL`` (e.g. ``redis://host:6379/0``), run by
  whichever worker takes it; results come back through ``DAGSTER_CELERY_BACKEND_URL``
  (default: the broker). Workers start with ``dagster-celery worker start -A
  dagster_celery.app -y deploy/celery.yaml``, which reads the same two variables: the
  settings below and that file must agree (docs/deploy.md).

Every process (run worker, Celery workers) loads ``pipelines.definitions`` and so reads
the same variables; the archive's own settings (``ARCHIVE_*``) must be the same
everywhere too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import ExecutorDefinition

from archive.errors import ConfigError

EXECUTORS = ("multiprocess", "celery")

CELERY_SETTINGS: dict[str, Any] = {
    # A worker acknowledges a step's task when the step is done, not when it takes it:
    # with early acknowledgement an idle-looking worker reserves the next task while it
    # runs one, and a second worker may get no share at all.
    "task_acks_late": True,
    "worker_prefetch_multiplier": 1,
}
"""Celery settings of the executor's app; deploy/celery.yaml gives the workers the same."""


def executor_from_env(env: Mapping[str, str]) -> ExecutorDefinition | None:
    """The executor ``ARCHIVE_DAGSTER_EXECUTOR`` names; None for Dagster's default."""
    name = (env.get("ARCHIVE_DAGSTER_EXECUTOR") or "multiprocess").strip().lower()
    if name == "multiprocess":
        return None
    if name != "celery":
        raise ConfigError(f"ARCHIVE_DAGSTER_EXECUTOR={name!r} is not one of "
                          + ", ".join(EXECUTORS))
    if not env.get("DAGSTER_CELERY_BROKER_URL"):
        raise ConfigError("ARCHIVE_DAGSTER_EXECUTOR=celery needs DAGSTER_CELERY_BROKER_URL "
                          "(the Celery broker, e.g. redis://127.0.0.1:6379/0)")
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise ConfigError("ARCHIVE_DAGSTER_EXECUTOR=celery needs dagster-celery: "
                          "pip install 'provenance-archive[distributed]'") from exc
    backend = ("DAGSTER_CELERY_BACKEND_URL" if env.get("DAGSTER_CELERY_BACKEND_URL")
               else "DAGSTER_CELERY_BROKER_URL")
    configured: ExecutorDefinition = celery_executor.configured(
        {"broker": {"env": "DAGSTER_CELERY_BROKER_URL"}, "backend": {"env": backend},
         "config_source": CELERY_SETTINGS}, name="celery")
    return configured
