"""One mapping from a refused store request to HTTP: each StoreError kind carries its own A2I code and
status, the runtime API answers it as AWS would, and the worker JSON API with the same status."""

from __future__ import annotations

import json

from human_review.exceptions import HumanReviewError
from human_review.portal.errors import HTTP_STATUS, A2IError, StoreError, a2i_error_response, detail_response


def _kinds(cls: type) -> list[type]:
    return [k for sub in cls.__subclasses__() for k in (sub, *_kinds(sub))]


def test_every_store_error_kind_maps_to_a_distinct_a2i_code_and_status():
    kinds = _kinds(StoreError)
    names = {k.__name__ for k in kinds}
    assert names >= {"NotFound", "Conflict", "QuotaExceeded", "InvalidState", "NotYours"}
    errors = [kind("refused") for kind in kinds]
    assert len({e.code for e in errors}) == len(kinds)
    assert len({e.status for e in errors}) == len(kinds)
    for e in errors:
        assert isinstance(e, A2IError) and isinstance(e, HumanReviewError)
        assert e.code in HTTP_STATUS and e.status == HTTP_STATUS[e.code]


def test_a_store_error_answers_as_aws_does_and_as_the_worker_api_does():
    from human_review.portal.errors import NotFound

    e = NotFound("Human loop 'x' does not exist.")
    r = a2i_error_response(e)
    assert (r.status_code, r.headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
    assert json.loads(r.body) == {"message": "Human loop 'x' does not exist."}
    r = detail_response(e.status, e.message)
    assert r.status_code == 404 and json.loads(r.body) == {"detail": "Human loop 'x' does not exist."}
