"""Nightly human review of image predictions on Airflow 3 with Amazon A2I or a local review service."""

__version__ = "0.1.0"
