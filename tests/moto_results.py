"""moto keeps SageMaker runtime results (the queue `/moto-api/static/sagemaker/endpoint-results`
fills, and what each request body was answered) in process-wide state shared by every
ThreadedMotoServer of the process: results one test queued and did not use would answer the next
test's InvokeEndpoint calls in the same pytest worker. Tests clear it."""

from __future__ import annotations


def clear_endpoint_results(region: str = "us-east-1") -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    backend = sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][region]
    backend.results_queue.clear()
    backend.results.clear()
