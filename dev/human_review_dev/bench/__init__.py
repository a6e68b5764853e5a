"""Figures, measured and printed, never asserted (the tests reuse some of their generators).

  service.py         `human-review bench`: local models, activation conditions, the review service
  remote_backend.py  `python -m human_review_dev.bench.remote_backend`: a remote backend's throughput
  report.py          `python -m human_review_dev.bench.report 10000`: building a big report
  pipeline.py        `human-review bench --images N --json PATH`: the DAG under Airflow's scheduler and
                     LocalExecutor against the notebook loop (notebook.py), on moto, a stand-in endpoint
                     (endpoint.py) and the review service in their own processes (services.py, dataset.py)
  rate_limit.py      `python -m human_review_dev.bench.rate_limit`: the rate limit across parallel tasks
  discover.py        `python -m human_review_dev.bench.discover`: discover against the prefix's history
"""
