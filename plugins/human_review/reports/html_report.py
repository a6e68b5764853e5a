"""The self-contained HTML report: inline CSS, charts as inline SVG (matplotlib), thumbnails as data URIs.

It opens from disk with no network: no script, no external stylesheet, font or image. Images are
read from object storage by the caller's loader, resized with Pillow and embedded.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import Any, Callable

from human_review.reports.build import PROBLEM_STATUSES

log = logging.getLogger(__name__)
THUMB = 360
MODEL_COLOUR, HUMAN_COLOUR, DISPUTED_COLOUR = "#d1495b", "#2e8b57", "#e0a800"
UNLIKELY_COLOUR = "#8a94a6"  # the model's boxes below the decision threshold: scores, not claims

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c8ccd6}header a{color:#9fd3ff}td.why{text-align:left;max-width:640px}main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px 14px;min-width:120px}
.tile b{display:block;font-size:22px}.tile span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #eceef2;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f1f3f6}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart svg{max-width:100%;height:auto}
.note{color:#5b6475;font-size:12px}.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
.card{border:1px solid #e2e5ea;border-radius:8px;padding:8px}.card h3{font-size:13px;margin:0 0 6px;word-break:break-all}
.pair{display:flex;gap:8px}.pair figure{margin:0;flex:1}.pair img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#374151}.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:11px;margin-left:4px}
.changed{background:#fde2e4;color:#8a1c2b}.same{background:#dcf2e3;color:#1d5b35}.disputed{background:#fff3cd;color:#7a5b00}
.legend i{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-2px}
"""


def _pct(v: Any) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.{digits}f}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---- charts -------------------------------------------------------------------------------------

def _literal(chart):
    """Draw a chart with every text literal: label names come from reviewers and model output, and
    matplotlib would parse ``$...$`` as mathtext (``$\\undefinedmacro$`` raises and fails the report)."""
    import functools

    @functools.wraps(chart)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return chart(*args, **kwargs)

    return wrapper


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float = 5.2, height: float = 2.8):
    from matplotlib.figure import Figure  # no pyplot: no global backend, safe in threads

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


@_literal
def calibration_chart(calibration: dict[str, Any]) -> str:
    fig, ax = _figure()
    buckets = calibration["buckets"]
    xs = [b["low"] + 5 for b in buckets]
    rates = [(b["override_rate"] or 0) * 100 for b in buckets]
    bars = ax.bar(xs, rates, width=8, color=[MODEL_COLOUR if b["reviewed"] else "#ccc" for b in buckets])
    for bar, b in zip(bars, buckets):
        if b["reviewed"]:
            ax.annotate(f"n={b['reviewed']}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    # the x axis is the model's confidence in its least sure decision, not the raw score the
    # conditions test, so the suggested ConfidenceLessThan is given in words, not drawn here
    ax.set(xlim=(0, 100), ylim=(0, 105), xlabel="model's confidence in its least sure decision",
           ylabel="override rate (%)", title="Override rate by the model's confidence in its decision")
    return _svg(fig)


@_literal
def label_chart(per_label: dict[str, dict[str, Any]]) -> str:
    labels = list(per_label)[:20]
    fig, ax = _figure(height=max(1.6, 0.45 * len(labels) + 1))
    left = [0] * len(labels)
    for what, colour in (("confirmed", HUMAN_COLOUR), ("removed", MODEL_COLOUR), ("added", "#3c6fb6")):
        values = [per_label[l][what] for l in labels]
        ax.barh(labels, values, left=left, color=colour, label=what)
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set(xlabel="model labels / boxes on reviewed images", title="Model against people, per label")
    # legend below the axes: inside, it hides behind the bars it explains
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3)
    return _svg(fig)


@_literal
def trend_chart(trend: list[dict[str, Any]]) -> str:
    fig, ax = _figure()
    xs = list(range(len(trend)))
    for key, colour, name in (("flagged_share", MODEL_COLOUR, "flagged"), ("changed_share", "#3c6fb6", "changed by people"),
                              ("mean_agreement", HUMAN_COLOUR, "reviewer agreement")):
        ys = [(t.get(key) if t.get(key) is not None else float("nan")) for t in trend]
        ax.plot(xs, [y * 100 for y in ys], marker="o", color=colour, label=name)
    ax.set_xticks(xs, [str(t.get("run_key") or "")[:10] for t in trend], rotation=45, ha="right", fontsize=7)
    ax.set(ylim=(-5, 105), ylabel="%", title=f"Last {len(trend)} runs")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


# ---- gallery ------------------------------------------------------------------------------------

def _boxes(answer: dict[str, Any] | None, key: str = "boxes") -> list[dict[str, Any]]:
    return list((answer or {}).get(key) or [])


def _box_text(b: dict[str, Any]) -> str:
    c = b.get("confidence")
    return f"{b.get('label', '')} {c:.0f}%" if isinstance(c, (int, float)) else str(b.get("label", ""))


def thumbnails(data: bytes, model: dict[str, Any] | None, human: dict[str, Any] | None) -> tuple[str, str]:
    """Two JPEG data URIs of the image: with the model's boxes (claims solid, unlikely ones thin), and
    with the people's (disputed in amber). Each box carries its label and score; a dark halo keeps
    a thin box visible on a bright image."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        w, h = im.size
        im.thumbnail((THUMB, THUMB))
    scale = im.size[0] / w if w else 1.0

    def draw(boxes: list[tuple[dict[str, Any], str, int]]) -> str:
        copy = im.copy()
        d = ImageDraw.Draw(copy)
        for b, colour, width in boxes:
            x0, y0 = b["left"] * scale, b["top"] * scale
            x1 = max(x0 + 3, x0 + b["width"] * scale)
            y1 = max(y0 + 3, y0 + b["height"] * scale)
            d.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline="#000000", width=width + 2)  # halo
            d.rectangle([x0, y0, x1, y1], outline=colour, width=width)
            text = _box_text(b)
            if text:
                tw = d.textlength(text)
                ty = y0 - 12 if y0 >= 12 else y1 + 1
                d.rectangle([x0, ty, x0 + tw + 4, ty + 11], fill=colour)
                d.text((x0 + 2, ty), text, fill="#ffffff")
        buf = io.BytesIO()
        copy.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    return (draw([(b, MODEL_COLOUR, 2) for b in _boxes(model)] + [(b, UNLIKELY_COLOUR, 1) for b in _boxes(model, "unlikely")]),
            draw([(b, HUMAN_COLOUR, 2) for b in _boxes(human)] + [(b, DISPUTED_COLOUR, 2) for b in _boxes(human, "disputed")]))


def _caption(answer: dict[str, Any] | None, who: str) -> str:
    if not answer:
        return f"{who}: –"
    if "labels" in answer:
        conf = answer.get("confidence") or {}
        labels = ", ".join(f"{l} {conf[l]:.0f}%" if conf.get(l) is not None else l for l in answer["labels"]) or "no labels"
        unlikely = [f"{l} {c:.1f}%" for l, c in sorted(conf.items()) if l not in answer["labels"] and c is not None]
        disputed = answer.get("disputed") or []
        return (f"{who}: {labels}" + (f" (below threshold, not claimed: {', '.join(unlikely)})" if unlikely else "")
                + (f" (disputed: {', '.join(disputed)})" if disputed else ""))
    if "boxes" in answer:
        n = len(answer["boxes"])
        d = len(answer.get("disputed") or [])
        u = len(answer.get("unlikely") or [])
        return (f"{who}: {n} box{'es' if n != 1 else ''}" + (f", {d} disputed" if d else "")
                + (f", {u} below threshold (thin grey)" if u else ""))
    return f"{who}: (answer shape not shown)"


def _model(row: dict[str, Any], thresholds) -> dict[str, Any] | None:
    from human_review.reports.consolidation import model_answer

    return model_answer(json.loads(row["model_output"]), thresholds) if row.get("model_output") else None


def _card(row: dict[str, Any], images: tuple[str, str] | None, thresholds=None) -> str:
    model = _model(row, thresholds)
    human = json.loads(row["human_answer"]) if row.get("human_answer") else None
    badges = ('<span class="badge changed">changed</span>' if row.get("human_changed")
              else '<span class="badge same">confirmed</span>')
    if row.get("disputed"):
        badges += '<span class="badge disputed">disputed</span>'
    agreement = row.get("agreement")
    why = "audit sample (random; reviewers are not told)" if row.get("audit_sample") else (row.get("flagged_by") or "–")
    meta = f"{row.get('answers') or 0} answer(s), agreement {_pct(agreement)} · flagged by {why}"
    if images:
        pair = (f'<figure><img alt="model" src="{images[0]}"><figcaption>{escape(_caption(model, "Model"))}</figcaption></figure>'
                f'<figure><img alt="people" src="{images[1]}"><figcaption>{escape(_caption(human, "People"))}</figcaption></figure>')
    else:
        pair = (f'<figure><figcaption>{escape(_caption(model, "Model"))}</figcaption></figure>'
                f'<figure><figcaption>{escape(_caption(human, "People"))} (image unavailable)</figcaption></figure>')
    return (f'<div class="card"><h3>{escape(row["object_key"])}{badges}</h3>'
            f'<div class="pair">{pair}</div><div class="note">{escape(meta)}</div></div>')


def gallery(rows: list[dict[str, Any]], load_image: Callable[[str], bytes] | None, thresholds=None) -> str:
    def one(row: dict[str, Any]) -> tuple[str, str] | None:
        if load_image is None:
            return None
        try:
            model = _model(row, thresholds)
            human = json.loads(row["human_answer"]) if row.get("human_answer") else None
            return thumbnails(load_image(row["image_uri"]), model, human)
        except Exception as e:  # noqa: BLE001  a missing or unreadable image must not fail the report
            log.warning("gallery: no thumbnail for %s: %s", row.get("image_uri"), e)
            return None

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="thumb") as pool:
        images = list(pool.map(one, rows))
    return "".join(_card(r, i, thresholds) for r, i in zip(rows, images))


# ---- page ---------------------------------------------------------------------------------------

def _searched(s: dict[str, Any]) -> str:
    """What an empty run looked for, in words."""
    q = s.get("searched") or {}
    where = f"s3://{q.get('bucket', '?')}/{q.get('prefix') or ''}"
    if q.get("explicit_keys"):
        return f"{q['explicit_keys']} explicit key(s) in s3://{q.get('bucket', '?')}/"
    if q.get("by_last_modified") and q.get("interval_start"):
        return f"objects under {where} with LastModified in [{q['interval_start']}, {q.get('interval_end')})"
    return f"every object under {where}"


def _empty_run(s: dict[str, Any]) -> str:
    return (f'<section id="empty"><h2>No images in this run</h2><p>The run searched {escape(_searched(s))} and found '
            "nothing to review. Check that images arrived under that prefix during the interval, or trigger "
            "the DAG with <code>prefix</code>, <code>keys</code> or <code>all_in_prefix</code> in its parameters.</p>"
            "</section>")


def _problems(problems: list[dict[str, Any]], s: dict[str, Any]) -> str:
    if not problems:
        return ""
    rows = "".join(f"<tr><td>{escape(p['object_key'])}</td><td>{escape(p['status'])}</td>"
                   f"<td class=\"why\">{escape(p.get('reason') or '–')}</td></tr>" for p in problems)
    total = sum(v for k, v in s.get("status_counts", {}).items() if k in PROBLEM_STATUSES)
    more = (f'<p class="note">{len(problems)} of {total} shown; report.csv lists them all.</p>'
            if total > len(problems) else "")
    return (f'<section id="problems"><h2>Images without a checked answer ({total})</h2>'
            '<p class="note">Invalid, failed, not processed, not reviewed in time, or cut by the review budget: '
            "the model's answer (if any) stands unchecked.</p>"
            f'<table class="problems"><thead><tr><th>image</th><th>status</th><th>reason</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>{more}</section>")


def _budget(s: dict[str, Any]) -> str:
    b = s.get("budget")
    if not b:
        return ""
    if not b["cut"]:
        return (f'<section id="budget"><h2>Review budget</h2><p>Every flagged image fit the budget '
                f"({b['max_loops']} loop(s) per run).</p></section>")
    cost = (f"At the {escape(b['override_rate_from'])}'s override rate of {_pct(b['override_rate'])} "
            f"({b['override_rate_reviews']} review(s)), that leaves about <b>{b['expected_errors']:g}</b> "
            "wrong model answer(s) unchecked." if b.get("expected_errors") is not None
            else "No reviews in this run to estimate how many of them the model got wrong.")
    keys = ", ".join(b.get("cut_keys") or [])
    return (f'<section id="budget"><h2>Review budget</h2><p>The budget allows {b["max_loops"]} loop(s) per run: '
            f"<b>{b['cut']}</b> flagged image(s) did not go to people (status over_review_budget). {cost}</p>"
            f'<p class="note">Cut: {escape(keys)}</p></section>')


def render(summary: dict[str, Any], gallery_rows: list[dict[str, Any]],
           load_image: Callable[[str], bytes] | None, problems: list[dict[str, Any]] | None = None) -> str:
    from human_review.claims import Thresholds

    s = summary
    rev = s.get("reviewers") or {}
    thresholds = Thresholds.from_dict(s.get("decision_thresholds"))
    tiles = [
        ("images", _num(s["images"])), ("flagged", f"{_num(s['flagged'])} ({_pct(s.get('flagged_share'))})"),
        ("reviewed", _num(s.get("reviewed"))), ("changed by people", _num(s.get("changed_by_reviewers"))),
        ("disputed", _num(s.get("disputed"))), ("model precision", _pct(s.get("model_precision"))),
        ("reviewer agreement", _pct(s.get("mean_agreement"))),
    ]
    if rev.get("cost_usd") is not None:
        tiles.append(("review cost", f"${rev['cost_usd']:,.2f}"))
    tiles_html = "".join(f'<div class="tile"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in tiles)

    status = _table(["status", "images"], [[k, v] for k, v in s["status_counts"].items()])
    flags = _table(["condition", "flags", "share of flags"],
                   [[c, v["flags"], _pct(v["share"])] for c, v in s.get("flags_by_condition", {}).items()]
                   + [["audit sample only", s.get("audit_sample", 0), _pct(s.get("audit_share"))]])
    labels = s.get("per_label") or {}
    label_table = _table(["label", "confirmed", "removed", "added", "precision", "recall"],
                         [[l, v["confirmed"], v["removed"], v["added"], _pct(v["precision"]), _pct(v["recall"])]
                          for l, v in labels.items()])
    cal = s["calibration"]
    th = cal["threshold"]
    if th.get("suggested_confidence_less_than") is not None:
        advice = (f"Sending only images with confidence below <b>{th['suggested_confidence_less_than']:g}</b> "
                  f"would have sent {th['fewer_reviews']} fewer image(s) to people "
                  f"({_pct(th['fewer_reviews_share'])} of those flagged by confidence) for the same error rate "
                  f"({_pct(th['target_error_rate'])}, from {th['audit_reviewed']} audit-sample review(s)).")
    else:
        advice = ("No lower threshold keeps today's error rate on this run's reviews "
                  f"({th['flagged_by_confidence']} flagged by confidence, {th['audit_reviewed']} audit-sample reviews).")
    cal_table = _table(["confidence", "reviewed", "overridden", "override rate"],
                       [[b["bucket"], b["reviewed"], b["overridden"], _pct(b["override_rate"])]
                        for b in cal["buckets"] if b["reviewed"]]
                       + ([["no label/box", cal["no_confidence"]["reviewed"], cal["no_confidence"]["overridden"],
                            _pct(cal["no_confidence"]["override_rate"])]] if cal["no_confidence"]["reviewed"] else []))
    workers = rev.get("workers") or []
    reviewer_table = _table(["worker", "answers", "median s/task", "agreement"],
                            [[w["worker"], w["answers"], _num(w["median_seconds"]), _pct(w["agreement"])]
                             for w in workers[:50]])
    cost = (f"<p>{rev['answers']} answers × ${rev['task_price_usd']:g} (PublicWorkforceTaskPrice) = "
            f"<b>${rev['cost_usd']:,.2f}</b></p>" if rev.get("cost_usd") is not None else "")
    trend = s.get("trend") or []
    trend_table = _table(["run", "images", "flagged", "reviewed", "changed", "agreement"],
                         [[t["run_key"], t["images"], _pct(t["flagged_share"]), t["reviewed"], _pct(t["changed_share"]),
                           _pct(t["mean_agreement"])] for t in reversed(trend)])
    run_id = s.get("dag_run_id")
    run_line = f"run {escape(s['run_key'])}"
    if run_id:
        link = s.get("dag_run_url")
        shown_id = escape(run_id)
        run_line += (f' · DAG run <a href="{escape(link)}">{shown_id}</a>' if link else f" · DAG run {shown_id}")
    per = thresholds.per_label
    threshold_text = f"{thresholds.default:g}%" + (
        " (" + ", ".join(f"{k} {v:g}%" for k, v in sorted(per.items())) + ")" if per else "")
    cards = gallery(gallery_rows, load_image, thresholds)
    shown = len(gallery_rows)
    label_svg = f'<div class="chart">{label_chart(labels)}</div>' if labels else (
        '<p class="note">The model claimed no label or box on the reviewed images, and people added none.</p>')
    if not labels:
        label_table = ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{escape(s['pipeline'])} · {escape(s['run_key'])} · human review report</title>
<style>{CSS}</style></head><body>
<header><h1>{escape(s['pipeline'])}: human review report</h1>
<p>{run_line} · generated {escape(s['generated_at'])}{' · DRY RUN' if s.get('dry_run') else ''}</p>
<p>searched {escape(_searched(s))} · the model's claims: labels and boxes at or above {escape(threshold_text)} confidence</p></header>
<main>
{_empty_run(s) if not s.get('images') else ''}
<section><div class="tiles">{tiles_html}</div></section>
<section><h2>What happened</h2><div class="charts"><div>{status}</div><div>{flags}</div></div></section>
{_problems(problems or [], s)}{_budget(s)}
<section id="labels"><h2>Model against people</h2>
<div class="charts">{label_svg}<div>{label_table}</div></div>
<p class="note">Reviewed images only, against what the model claimed (labels and boxes at or above the decision
threshold; lower scores are not claims). Confirmed: the model's claimed label (or box, matched by IoU) stayed; removed: people
took it out; added: people put in one the model did not claim. Precision = confirmed / (confirmed + removed),
recall = confirmed / (confirmed + added).</p></section>
<section id="calibration"><h2>Calibration</h2>
<div class="charts"><div class="chart">{calibration_chart(cal)}</div><div>{cal_table}</div></div>
<p>{advice}</p><p class="note">Few reviews make these numbers noisy; read docs/reports.md, "Reading calibration".</p></section>
<section id="trend"><h2>Trend</h2><div class="charts"><div class="chart">{trend_chart(trend)}</div><div>{trend_table}</div></div></section>
<section id="reviewers"><h2>Reviewers</h2>{reviewer_table}{cost}</section>
<section id="gallery"><h2>Reviewed images ({shown} of {s.get('reviewed', 0)})</h2>
<p class="legend"><i style="background:{MODEL_COLOUR}"></i>model<i style="background:{HUMAN_COLOUR}"></i>people
<i style="background:{DISPUTED_COLOUR}"></i>disputed · changed and disputed images first</p>
<div class="gallery">{cards or '<p class="note">No reviewed images in this run.</p>'}</div></section>
</main></body></html>
"""
    return re.sub(r"[ \t]+\n", "\n", page)
