"""The worker portal under ``/worker``: its pages (``worker_pages.py``) and JSON API (``worker_api.py``).

Browsers and the simulated reviewers use the same routes. Who is asking is decided in
``context.py``; sessions and image links are signed in ``tokens.py``.
"""

from __future__ import annotations

from fastapi import APIRouter

from human_review.portal import worker_api, worker_pages

router = APIRouter()
router.include_router(worker_pages.router)
router.include_router(worker_api.router)
