"""Prefect flows over the library's pipeline steps (`mtmh.pipeline`).

Scheduled retraining behind the data-quality gates is not written yet; until then the
pipeline runs through `dvc repro`.
"""
