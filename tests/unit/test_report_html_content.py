"""What the HTML report says in the cases a reader needs: an empty run, problem images, the DAG run,
labelled boxes in the gallery (rendered by the real report builder from rows)."""

from __future__ import annotations

import io

from human_review.reports import build, html_report


def summary_of(rows, **extra):
    return build.summarise(rows, pipeline="p", run_key="2026-11-22T020000Z", dry_run=False, sent_to_review=0,
                           price_usd=None, trend=[], extra=extra)


SEARCHED = {"bucket": "photos", "prefix": "incoming/", "interval_start": "2026-11-21T02:00:00+00:00",
            "interval_end": "2026-11-22T02:00:00+00:00", "by_last_modified": True, "explicit_keys": 0}


def test_an_empty_run_says_what_it_searched():
    s = summary_of([], searched=SEARCHED, dag_run_id="scheduled__2026-11-22T02:00:00+00:00",
                   dag_run_url="/dags/d/runs/scheduled__2026-11-22T02%3A00%3A00%2B00%3A00")
    page = build.html_bytes(s, build.frame([]), None, 10).decode()
    assert '<section id="empty"><h2>No images in this run</h2>' in page
    assert ("objects under s3://photos/incoming/ with LastModified in "
            "[2026-11-21T02:00:00+00:00, 2026-11-22T02:00:00+00:00)") in page
    assert ('DAG run <a href="/dags/d/runs/scheduled__2026-11-22T02%3A00%3A00%2B00%3A00">'
            "scheduled__2026-11-22T02:00:00+00:00</a>") in page


def test_problem_images_are_listed_with_their_reasons():
    rows = [{"pipeline": "p", "run_key": "r", "object_key": f"in/{n}", "image_uri": f"s3://b/in/{n}", "size_bytes": 1,
             "status": status, "reason": reason}
            for n, status, reason in (("a.jpg", "invalid", "not an image"), ("b.jpg", "inference_failed", "model crashed"),
                                      ("c.jpg", "auto_accepted", None), ("d.jpg", "review_expired", "nobody answered"))]
    s = summary_of(rows, searched=SEARCHED)
    page = build.html_bytes(s, build.frame(rows), None, 10).decode()
    problems = page[page.index('<section id="problems">'):]
    problems = problems[:problems.index("</section>")]
    assert "Images without a checked answer (3)" in problems
    assert '<td>in/a.jpg</td><td>invalid</td><td class="why">not an image</td>' in problems
    assert "model crashed" in problems and "nobody answered" in problems and "in/c.jpg" not in problems
    assert 'id="empty"' not in page


def test_gallery_boxes_carry_label_and_score_and_stay_visible_on_white():
    from PIL import Image

    white = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(white, format="PNG")
    model = {"boxes": [{"label": "face", "left": 100, "top": 100, "width": 2, "height": 60, "confidence": 87.0}],
             "unlikely": []}
    uri, _ = html_report.thumbnails(white.getvalue(), model, None)
    import base64

    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L")
    scale = im.size[0] / 400
    # a 2-pixel-wide box is drawn at least 3 pixels wide, with a dark halo, so it shows on white
    column = [im.getpixel((int(100 * scale) + dx, int(130 * scale))) for dx in range(-2, 5)]
    assert min(column) < 80
    # the label with its score is drawn above the box (a dark band of text background)
    band = [im.getpixel((int(100 * scale) + dx, int(100 * scale) - 6)) for dx in range(0, 30)]
    assert min(band) < 160
    assert html_report._box_text(model["boxes"][0]) == "face 87%"
