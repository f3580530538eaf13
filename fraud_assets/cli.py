"""`fraud-assets`: one command for worlds, reference data, services and the UI."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from fraud_assets.settings import PACKAGE_ROOT, config_root, dagster_home, fraud_assets_home


def _store():
    from fraud_assets.core.store import WorldStore

    return WorldStore(fraud_assets_home())


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at the instance under FRAUD_ASSETS_HOME (with the repo's dagster.yaml)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    template = PACKAGE_ROOT.parent / "dagster.yaml"
    if not target.exists() and template.exists():
        shutil.copyfile(template, target)
    return home


def ensure_reference(quiet: bool = False, rebuild: bool = False) -> dict[str, str]:
    """Build missing reference datasets (all of them with `rebuild`, proving same bytes)."""
    from fraud_assets.reference import catalog

    started = time.perf_counter()
    results = catalog.build_all(fraud_assets_home(), skip_existing=not rebuild)
    if not quiet:
        built = sum(1 for r in results.values() if getattr(r, "status", None) and r.status.value == "PUBLISHED")
        print(f"reference: {len(results)} datasets ({built} newly built) in {time.perf_counter() - started:.1f}s")
    return catalog.reference_digests(fraud_assets_home())


def register_world(preset: str, seed: int, quiet: bool = False):
    from fraud_assets.engine.worlds import register

    digests = ensure_reference(quiet=quiet)
    world, status = register(_store(), config_root(), preset, seed, digests)
    prepare_dagster_home()
    from fraud_assets.orchestration.runs import add_world_partitions

    add_world_partitions(world)
    if not quiet:
        print(f"world {preset} seed={seed}: {status.value}")
        print(f"  manifest_fingerprint={world.manifest_fingerprint}")
        print(f"  parameter_hash={world.parameter_hash}")
        print(f"  registered_utc={world.registered_utc}")
    print(f"world key: {world.key}")
    return world


def cmd_world_register(args) -> int:
    register_world(args.preset, args.seed)
    return 0


def cmd_world_build(args) -> int:
    from fraud_assets.orchestration.runs import build_world

    world = register_world(args.preset, args.seed, quiet=True)
    started = time.perf_counter()
    outcome = build_world(world, args.through)
    if args.verbose:
        for key in outcome.materialised:
            print(f"  materialised {key}")
        for name, status in outcome.checks:
            print(f"  check {status} {name}")
    counts = {s: sum(1 for _, st in outcome.checks if st == s) for s in ("PASS", "WARN", "FAIL")}
    print(f"built {len(outcome.materialised)} assets, {len(outcome.checks)} checks ({counts['PASS']} pass, "
          f"{counts['WARN']} warn, {counts['FAIL']} fail) in {time.perf_counter() - started:.1f}s")
    for name, status in outcome.checks:
        if status == "WARN":
            print(f"  warning: {name}")
    if outcome.failed_checks or not outcome.success:
        for name in outcome.failed_checks:
            print(f"FAILED blocking check {name}", file=sys.stderr)
        for failure in outcome.step_failures:
            print(f"FAILED step {failure}", file=sys.stderr)
        return 1
    return cmd_world_verify(args, world=world)


def cmd_world_verify(args, world=None) -> int:
    from fraud_assets.core.gates import verify_bundle
    from fraud_assets.engine import catalogue
    from fraud_assets.engine.runner import bundle_dir

    if world is None:
        world = register_world(args.preset, args.seed, quiet=True)
    store = _store()
    failures = 0
    for seg in catalogue.segments():
        directory = store.path(bundle_dir(seg.segment, world))
        if not directory.exists():
            print(f"{seg.segment}: NOT BUILT")
            continue
        report = verify_bundle(directory, store.root, seg.segment)
        print(report.line())
        failures += not report.passed
    return 1 if failures else 0


def cmd_world_list(args) -> int:
    from fraud_assets.engine.worlds import list_worlds

    for mf, seed in list_worlds(_store()):
        print(f"{mf}|{seed}")
    return 0


def cmd_reference_build(args) -> int:
    digests = ensure_reference(rebuild=True)
    for dataset_id, digest in sorted(digests.items()):
        print(f"  {dataset_id}: {digest[:16]}")
    return 0


def cmd_ui(args) -> int:
    prepare_dagster_home()
    os.chdir(PACKAGE_ROOT.parent)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(PACKAGE_ROOT.parent / "workspace.yaml"),
               "-p", str(args.port)]
    os.execv(sys.executable, command)
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    world = sub.add_parser("world", help="register, build and verify worlds").add_subparsers(dest="action",
                                                                                             required=True)
    for name, func, help_ in (("register", cmd_world_register, "write the world manifest, add partition keys"),
                              ("build", cmd_world_build, "materialise the world's states through Dagster"),
                              ("verify", cmd_world_verify, "recompute every published segment's hash gate")):
        p = world.add_parser(name, help=help_)
        p.add_argument("--preset", default="tiny")
        p.add_argument("--seed", type=int, default=42)
        if name == "build":
            p.add_argument("--through", default=None, help="last segment to build (default: all)")
            p.add_argument("-v", "--verbose", action="store_true", help="list every asset and check")
        p.set_defaults(func=func)
    world.add_parser("list", help="registered worlds").set_defaults(func=cmd_world_list)

    reference = sub.add_parser("reference", help="reference data intake").add_subparsers(dest="action",
                                                                                         required=True)
    reference.add_parser("build", help="build every reference dataset").set_defaults(func=cmd_reference_build)

    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on this home")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    from fraud_assets.platform.services import command as services_command

    services_command.add_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from fraud_assets.core.errors import EngineFailure

    try:
        return int(args.func(args) or 0)
    except EngineFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
