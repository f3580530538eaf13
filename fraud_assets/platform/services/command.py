"""`fraud-assets services up|down|status|env` — argparse wiring for the parity lane's services.

The lead's `cli.py` calls `add_subcommand(sub)`; `python -m
fraud_assets.platform.services.command ...` runs the same handler standalone.

* `services up [--pg-port N] [--kafka-port N] [--s3-port N] [--bucket B] [--json]`
  starts what is not running (idempotent) and returns while the services keep running;
* `services down` stops them (no process left behind);
* `services status [--json]` prints exactly
  `{"postgres_dsn": ..., "kafka_bootstrap": ..., "s3_endpoint": ..., "healthy": true|false}`
  with `--json`; exit 0 when healthy, 1 otherwise;
* `services env` prints `export` lines for the `local_parity` profile and Dagster.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any

from fraud_assets.platform.services import manager


def _home(args: argparse.Namespace) -> str:
    return args.home or os.environ.get("FRAUD_ASSETS_HOME") or "./.fraud_assets"


def add_subcommand(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=None,
                        help="FRAUD_ASSETS_HOME (default: $FRAUD_ASSETS_HOME or ./.fraud_assets)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")

    parser = subparsers.add_parser("services", help="start/stop the local_parity services "
                                   "(PostgreSQL, Tansu, moto S3) on 127.0.0.1")
    actions = parser.add_subparsers(dest="services_action", metavar="{up,down,status,env}")
    actions.required = True

    up = actions.add_parser("up", parents=[common], help="start the services (idempotent)")
    up.add_argument("--pg-port", type=int, default=None, help=f"default $FRAUD_ASSETS_PG_PORT or {manager.DEFAULT_PORTS['postgres']}")
    up.add_argument("--kafka-port", type=int, default=None, help=f"default $FRAUD_ASSETS_KAFKA_PORT or {manager.DEFAULT_PORTS['kafka']}")
    up.add_argument("--s3-port", type=int, default=None, help=f"default $FRAUD_ASSETS_S3_PORT or {manager.DEFAULT_PORTS['s3']}")
    up.add_argument("--bucket", default=manager.DEFAULT_BUCKET)
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for health")
    actions.add_parser("down", parents=[common], help="stop the services")
    actions.add_parser("status", parents=[common], help="health of the services")
    actions.add_parser("env", parents=[common], help="print export lines for the local_parity profile")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    home = _home(args)
    action = args.services_action
    try:
        if action == "up":
            ports = manager.ServicePorts.resolve(args.pg_port, args.kafka_port, args.s3_port)
            st = manager.up(home, ports, bucket=args.bucket, timeout_s=args.timeout)
        elif action == "down":
            st = manager.down(home)
        elif action == "status":
            st = manager.status(home)
        elif action == "env":
            st = manager.status(home)
            for key, value in sorted(st.env().items()):
                print(f"export {key}={shlex.quote(value)}")
            return 0 if st.healthy else 1
        else:  # pragma: no cover - argparse enforces the choices
            raise SystemExit(2)
    except Exception as exc:  # one line for operators, non-zero exit
        print(f"services {action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(st.public()))
    else:
        print(manager.describe(st))
    if action == "down":
        return 0
    return 0 if st.healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud-assets")
    sub = parser.add_subparsers(dest="command")
    sub.required = True
    add_subcommand(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
