"""`human-review`: the project's command line.

  human-review demo                 the nightly review on local parts, end to end
  human-review portal               serve the local A2I-compatible review service
  human-review render-template T --input I.json
                                    render a worker template like SageMaker RenderUiTemplate
  human-review up                   airflow standalone + local S3 + review queue, for a person
  human-review validate             check every pipeline file
  human-review bench                measure the local models and the activation conditions
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import quote


def _demo(args: argparse.Namespace) -> int:
    from human_review.demo import run_demo

    return run_demo(Path(args.output), policy=args.policy, delay=args.delay, reviewers=args.reviewers)


def _portal(args: argparse.Namespace) -> int:
    import uvicorn

    from human_review.portal.app import create_app
    from human_review.portal.settings import PortalSettings

    settings = PortalSettings.from_env()
    if args.db_url:
        settings.database_url = args.db_url
    if args.s3_endpoint_url:
        settings.s3_endpoint_url = args.s3_endpoint_url
    print(f"Local review service: A2I runtime API at http://{args.host}:{args.port}/, "
          f"worker portal at http://{args.host}:{args.port}/worker/ (state in {settings.database_url})", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _render(args: argparse.Namespace) -> int:
    from human_review.portal.render import TemplateRenderError, render_template

    try:
        template = Path(args.template).read_text(encoding="utf-8")
    except OSError as e:
        print(f"error: cannot read template {args.template}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        raw = json.loads(Path(args.input).read_text(encoding="utf-8"))
    except OSError as e:
        print(f"error: cannot read input {args.input}: {e.strerror}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as e:
        print(f"error: {args.input} is not JSON: {e}", file=sys.stderr)
        return 1
    # RenderUiTemplate takes {"InputContent": "<json>"}; a plain task input object works too
    task_input = json.loads(raw["InputContent"]) if isinstance(raw, dict) and "InputContent" in raw else raw

    def image_url(uri: str) -> str:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise TemplateRenderError(f"grant_read_access needs s3://bucket/key, got {uri!r}")
        return f"https://{bucket}.s3.amazonaws.com/{quote(key)}"

    try:
        sys.stdout.write(render_template(template, task_input, image_url=image_url))
    except TemplateRenderError as e:
        print(f"error: {args.template}: {e}", file=sys.stderr)
        return 1
    return 0


def _up(args: argparse.Namespace) -> int:
    from human_review.up import run_up

    return run_up(port=args.port, home=Path(args.home) if args.home else None, check=args.check, smoke=args.smoke)


def _validate(args: argparse.Namespace) -> int:
    from human_review.config import PIPELINES_DIR, load_all

    directory = Path(args.directory) if args.directory else PIPELINES_DIR
    configs, errors = load_all(directory)
    for c in configs:
        print(f"ok     {c.source_file}  -> DAG {c.dag_id}")
    for e in errors:
        print(f"error  {e}", file=sys.stderr)
    return 1 if errors else 0


def _bench(args: argparse.Namespace) -> int:
    from human_review.bench import run_bench

    return run_bench(repeats=args.repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="human-review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run the nightly review DAGs on local parts, end to end")
    p.add_argument("--output", default="demo-output", help="where reports and logs go (default: demo-output)")
    p.add_argument("--policy", default="mixed", choices=["agree", "correct", "mixed"],
                   help="how the simulated reviewers answer (default: mixed)")
    p.add_argument("--delay", type=float, default=0.3, help="seconds each simulated reviewer takes per task")
    p.add_argument("--reviewers", type=int, default=2, help="number of simulated reviewers")
    p.set_defaults(func=_demo)

    p = sub.add_parser("portal", help="serve the local A2I-compatible review service and worker portal")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--db-url", help="SQLAlchemy URL of the service's state (default: SQLite file)")
    p.add_argument("--s3-endpoint-url", help="S3 endpoint for output.json and images (default: AWS)")
    p.set_defaults(func=_portal)

    p = sub.add_parser("render-template", help="render a worker template with a task input, like RenderUiTemplate")
    p.add_argument("template")
    p.add_argument("--input", required=True, help="JSON file: the task input, or {\"InputContent\": \"...\"}")
    p.set_defaults(func=_render)

    p = sub.add_parser("up", help="interactive local stack: airflow standalone + local S3 + review queue (Ctrl-C stops)")
    p.add_argument("--port", type=int, default=8080, help="api-server port (default: 8080)")
    p.add_argument("--home", help="AIRFLOW_HOME (default: airflow-home/up, git-ignored)")
    p.add_argument("--check", action="store_true", help="start, check the review page answers through the api-server, stop")
    p.add_argument("--smoke", action="store_true",
                   help="like --check, then trigger both DAGs over the REST API, answer in the review queue, "
                        "wait for the runs to succeed, stop")
    p.set_defaults(func=_up)

    p = sub.add_parser("validate", help="check every pipeline YAML file")
    p.add_argument("directory", nargs="?")
    p.set_defaults(func=_validate)

    p = sub.add_parser("bench", help="measure the local models and the activation conditions")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
