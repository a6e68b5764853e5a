"""Attack: `make up` exposed the runtime API to the network with a published key.

Before: Airflow listened on 0.0.0.0 and the service's key was testing/testing, so anyone on the
network could start loops naming any S3 object, which the proxy then served. After: the api-server
binds 127.0.0.1 unless --host opens it, the key is generated per stack and printed, the passwords and
state files are 0600, and the proxy serves only objects under the pipeline's source prefix."""

from __future__ import annotations

import json
import stat

import pytest

from human_review_dev.up import private_file, stack_keys, up_environment

from .conftest import moderation_doc


def _env(tmp_path, **kw):
    access, secret = stack_keys()
    return up_environment(tmp_path, port=8080, s3_url="http://127.0.0.1:1", access_key=access, secret_key=secret,
                          **{"host": "127.0.0.1", **kw}), access, secret


def test_up_listens_on_loopback_with_a_key_of_its_own(tmp_path):
    env, access, secret = _env(tmp_path)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert (conn["login"], conn["password"]) == (access, secret) == (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    assert "testing" not in (access, secret) and len(secret) >= 32
    env2, access2, secret2 = _env(tmp_path)
    assert access2 != access and secret2 != secret
    assert env2["HUMAN_REVIEW_PORTAL_SECRET"] != env["HUMAN_REVIEW_PORTAL_SECRET"]
    assert _env(tmp_path, host="0.0.0.0")[0]["AIRFLOW__API__HOST"] == "0.0.0.0"  # only when asked


def test_the_cli_defaults_to_loopback():
    import argparse

    from human_review_dev.commands import add_up

    parser = argparse.ArgumentParser()
    add_up(parser.add_subparsers())
    assert parser.parse_args(["up"]).host == "127.0.0.1"


def test_secret_files_are_owner_only(tmp_path):
    path = private_file(tmp_path / "simple_auth_manager_passwords.json.generated", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.integration
@pytest.mark.xdist_group("security_portal")
def test_a_loop_naming_an_object_outside_the_source_prefix_is_not_served(portal):
    """Whoever holds the runtime API key can start a loop naming any object; the proxy refuses it."""
    s3 = portal.stack.s3_client()
    s3.put_object(Bucket=portal.bucket, Key="human-review/reports/secret.png",
                  Body=b"\x89PNG\r\n\x1a\n" + b"0" * 32, ContentType="image/png")
    loop = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/human-review/reports/secret.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "content-moderation", loop)
    page = alice.get(task["taskUrl"]).text
    import re

    src = re.search(r'\.\./images\?token=([^"\'&<>\s]+)', page).group(1)
    r = alice.get("/worker/images", params={"token": src})
    assert r.status_code == 403 and "outside the source prefix" in r.text
    assert b"0" * 32 not in r.content
    alice.close()
