"""Dagster adapter for the ``archive`` library: assets, checks, schedules and sensors.

``archive`` never imports Dagster; everything here calls ``archive.api.Archive`` and turns
its results into Dagster metadata. The code location is ``pipelines.definitions``.
"""
