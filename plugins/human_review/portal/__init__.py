"""The local A2I-compatible review service: the A2I runtime REST API plus a small worker portal.

It stands in for Amazon Augmented AI on a laptop and in CI. The pipeline talks to it with the real
boto3 ``sagemaker-a2i-runtime`` client (``endpoint_url`` pointed here); reviewers work in the
portal under ``/worker``. Build the ASGI app with :func:`human_review.portal.app.create_app`.
"""
