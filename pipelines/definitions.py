"""The code location ``dagster dev -w workspace.yaml`` loads.

Resources and the executor come from the environment here, once (see
``pipelines.resources`` and ``pipelines.executors``).
"""

from __future__ import annotations

import os

from dagster import Definitions

from pipelines.assets import (
    article_metadata,
    capture,
    catalog,
    custody_checkpoint,
    fixity_audit,
    sources,
)
from pipelines.automation import (
    archive_job,
    daily_archive,
    fixity_audit_job,
    new_sources,
    weekly_fixity_audit,
)
from pipelines.checks import ALL_CHECKS
from pipelines.executors import executor_from_env
from pipelines.resources import resources_from_env

defs = Definitions(
    assets=[sources, capture, article_metadata, custody_checkpoint, catalog, fixity_audit],
    asset_checks=ALL_CHECKS,
    jobs=[archive_job, fixity_audit_job],
    schedules=[daily_archive, weekly_fixity_audit],
    sensors=[new_sources],
    resources=resources_from_env(),
    executor=executor_from_env(os.environ),
)
