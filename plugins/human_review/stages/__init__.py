"""The stages of one run, as plain functions the DAG factory wraps in tasks.

discover -> infer (per batch) -> route (per batch) -> wait -> report. Each stage reads what the
previous one wrote to object storage and returns only small references for XCom.
"""
