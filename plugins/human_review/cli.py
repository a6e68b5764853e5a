"""`human-review`: the project's command line.

  human-review portal               serve the local A2I-compatible review service
  human-review render-template T --input I.json
                                    render a worker template like SageMaker RenderUiTemplate
  human-review validate             check every pipeline file
  human-review aws-setup [PIPELINE...]   create the A2I worker task UIs and flow definitions
  human-review aws-policy PIPELINE  least-privilege IAM policies and the S3 CORS rules
  human-review aws-check PIPELINE   is an AWS account ready for a pipeline? (exit 1 if not)

with the dev package (dev/, installed by `make venv`; never in a production image):
  human-review demo                 the nightly review on local parts, end to end
  human-review up                   airflow standalone + local S3 + review queue, for a person
  human-review bench                measure the local models, the conditions and the review service
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import quote


# Commands other distributions add: each entry point of this group is a function that takes the
# sub-parsers and adds one command. The dev package (dev/pyproject.toml) adds demo, up and bench.
COMMANDS_GROUP = "human_review.commands"
DEV_COMMANDS = ("demo", "up", "bench")


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
    if args.workers <= 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
        return 0
    from human_review.portal.workers import prepare_workers

    prepare_workers(settings, args.workers)
    print(f"{args.workers} worker processes share the database; the API rate limit "
          f"(HUMAN_REVIEW_PORTAL_RPS) applies per worker.", flush=True)
    # A worker still importing on a busy machine is not dead: give it a minute before restarting it.
    uvicorn.run("human_review.portal.app:create_app_from_env", factory=True, workers=args.workers,
                host=args.host, port=args.port, log_level="info", timeout_worker_healthcheck=60)
    return 0


def _render(args: argparse.Namespace) -> int:
    from human_review.portal.render import TemplateRenderError, parse_s3_object, render

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
        bucket, key = parse_s3_object(uri) or ("", "")
        return f"https://{bucket}.s3.amazonaws.com/{quote(key)}"

    try:
        result = render(template, task_input, image_url=image_url, strict=args.strict)
    except TemplateRenderError as e:
        print(f"error: {args.template}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(result.html)
    if result.undefined:
        # As RenderUiTemplate, an undefined variable renders empty; --strict makes it an error.
        print(f"warning: {args.template}: undefined, rendered empty: {', '.join(result.undefined)}", file=sys.stderr)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from human_review.config import PIPELINES_DIR, load_all

    directory = Path(args.directory) if args.directory else PIPELINES_DIR
    configs, errors = load_all(directory)
    for c in configs:
        print(f"ok     {c.source_file}  -> DAG {c.dag_id}")
    for e in errors:
        print(f"error  {e}", file=sys.stderr)
    return 1 if errors else 0


def _add_installed_commands(sub) -> set[str]:
    """Load the commands of the `human_review.commands` entry-point group; return their names."""
    from importlib.metadata import entry_points

    added = set()
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except Exception as e:  # a broken add-on costs its own command, never the CLI
            print(f"warning: command {ep.name!r} ({ep.value}) is unavailable: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        added.add(ep.name)
    return added


def _aws_setup(args: argparse.Namespace) -> int:
    from human_review.aws_setup.commands import run_setup

    return run_setup(args.pipelines, dry_run=args.dry_run, wait_seconds=args.wait_seconds, aws_conn_id=args.aws_conn_id)


def _aws_policy(args: argparse.Namespace) -> int:
    from human_review.aws_setup.commands import run_policy

    return run_policy(args.pipeline, account=args.account, only=args.only)


def _aws_check(args: argparse.Namespace) -> int:
    from human_review.aws_setup.commands import run_check

    return run_check(args.pipeline, aws_conn_id=args.aws_conn_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="human-review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("portal", help="serve the local A2I-compatible review service and worker portal")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--db-url", help="SQLAlchemy URL of the service's state (default: SQLite file)")
    p.add_argument("--s3-endpoint-url", help="S3 endpoint for output.json and images (default: AWS)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default: 1); the database is their only shared state")
    p.set_defaults(func=_portal)

    p = sub.add_parser("render-template", help="render a worker template with a task input, like RenderUiTemplate")
    p.add_argument("template")
    p.add_argument("--input", required=True, help="JSON file: the task input, or {\"InputContent\": \"...\"}")
    p.add_argument("--strict", action="store_true",
                   help="fail on an undefined variable (A2I, and the portal, render it empty)")
    p.set_defaults(func=_render)

    p = sub.add_parser("validate", help="check every pipeline YAML file")
    p.add_argument("directory", nargs="?")
    p.set_defaults(func=_validate)

    conn_help = "Airflow AWS connection (default: the pipeline's aws_conn_id; '' = boto3's default credentials)"
    p = sub.add_parser("aws-setup", help="create the A2I worker task UIs and flow definitions the pipeline files ask for")
    p.add_argument("pipelines", nargs="*", metavar="PIPELINE", help="name or YAML path (default: every pipeline)")
    p.add_argument("--dry-run", action="store_true", help="describe only: say what would be created")
    p.add_argument("--wait-seconds", type=float, default=300, help="how long to wait for Active (default: 300)")
    p.add_argument("--aws-conn-id", help=conn_help)
    p.set_defaults(func=_aws_setup)

    p = sub.add_parser("aws-policy", help="print the least-privilege IAM policies and S3 CORS rules of a pipeline")
    p.add_argument("pipeline", metavar="PIPELINE", help="name or YAML path")
    p.add_argument("--account", help="AWS account id for the ARNs (default: from the YAML's ARNs, else *)")
    p.add_argument("--only", choices=["airflow", "execution-role", "trust", "setup", "cors"],
                   help="print one document only, ready for aws iam put-role-policy / put-bucket-cors")
    p.set_defaults(func=_aws_policy)

    p = sub.add_parser("aws-check", help="check an AWS account is ready for a pipeline; exit 1 and say what to fix")
    p.add_argument("pipeline", metavar="PIPELINE", help="name or YAML path")
    p.add_argument("--aws-conn-id", help=conn_help)
    p.set_defaults(func=_aws_check)

    added = _add_installed_commands(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    if wanted in DEV_COMMANDS and wanted not in added:
        print(f"human-review {wanted}: this command comes with the dev package (dev/), which is not installed here. "
              "Install the dev package: make venv (or: pip install -e dev/ in a checkout)", file=sys.stderr)
        return 2

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
