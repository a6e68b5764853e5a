"""The morning report, as plain Python on records and rows: testable and benchmarkable without Airflow or S3.

- rows.py: one row per image from its routed item and loop outcome (columns pinned in schema.py)
- consolidation.py: up to three reviewers' answers into one; model vs people
- metrics.py, trend.py: the summary's numbers
- build.py: rows to a table, Parquet/CSV bytes, the summary, the HTML (html_report.py)
- ground_truth.py: reviewed rows as a Ground Truth augmented manifest

`stages/report.py` and `stages/export.py` do the listing, reading and writing.
"""
