"""The morning report: consolidation of reviewers' answers, metrics, trend, HTML and Ground Truth export.

`stages/report.py` gathers the loops' answers and calls `build.build_report`; everything here is
plain Python on rows and dicts, so it is testable and benchmarkable without Airflow or S3.
"""
