"""Our AWS hooks name their caller: providers-amazon would otherwise walk the task's whole stack
with inspect.stack() (reading every frame's source file) for each client it makes."""

from __future__ import annotations

import inspect

import pytest

from human_review import storage
from human_review.hooks import CALLER, HumanLoopHook, ReviewAwsHook


# the clients our hooks make: A2I's runtime, a model backend's, storage.py's S3 client (cached per process)
each_client = pytest.mark.parametrize("make", [
    lambda: HumanLoopHook(aws_conn_id=None, region_name="us-east-1").conn,
    lambda: ReviewAwsHook(aws_conn_id=None, region_name="us-east-1", client_type="sagemaker-runtime").conn,
    lambda: (storage.forget_clients(), storage.s3_client(None))[1],
], ids=["a2i", "sagemaker-runtime", "s3"])


@pytest.fixture
def stack_calls(monkeypatch):
    calls = []
    real = inspect.stack

    def counting_stack(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "stack", counting_stack)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield calls
    storage.forget_clients()  # the S3 case's client, cached per process


@each_client
def test_clients_name_the_caller_without_walking_the_stack(stack_calls, make):
    client = make()
    assert f"Caller/{CALLER}" in client.meta.config.user_agent_extra
    assert stack_calls == []


def test_the_provider_hook_would_walk_the_stack(stack_calls):
    """The cost the override avoids is real in this providers-amazon version (else drop the override)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    AwsBaseHook(aws_conn_id=None, region_name="us-east-1", client_type="sagemaker-runtime").conn
    assert stack_calls


class _Sent(Exception):
    pass


@each_client
def test_requests_carry_a_user_agent_built_once(stack_calls, monkeypatch, make):
    """botocore cleans a dozen User-Agent components character by character twice per request
    (39 us a build); our clients send one string built once, with the provider's fields."""
    import boto3
    import botocore.useragent

    client = make()
    cleaned = []
    real = botocore.useragent.sanitize_user_agent_string_component
    monkeypatch.setattr(botocore.useragent, "sanitize_user_agent_string_component",
                        lambda *a, **k: cleaned.append(1) or real(*a, **k))
    sent = []

    def capture(request, **_):
        sent.append(request.headers["User-Agent"])
        raise _Sent

    client.meta.events.register("before-send", capture)
    call = {"sagemaker-a2i-runtime": lambda: client.describe_human_loop(HumanLoopName="a-loop"),
            "sagemaker-runtime": lambda: client.invoke_endpoint(EndpointName="e", Body=b"{}"),
            "s3": lambda: client.get_object(Bucket="a-bucket", Key="a/key.jpg")}[client.meta.service_model.service_name]
    for _ in range(3):
        with pytest.raises(_Sent):
            call()
    ua = sent[0].decode() if isinstance(sent[0], bytes) else sent[0]
    assert ua.startswith(f"Boto3/{boto3.__version__} ua/2.1 ") and "app/human-review" in ua
    assert f"Caller/{CALLER}" in ua and "Airflow/" in ua  # the provider's fields still follow
    assert len(set(sent)) == 1 and cleaned == []
