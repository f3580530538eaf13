"""The Dagster UI's own API lists the engine assets, their checks and the world partitions."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from fraud_assets import cli
from fraud_assets.engine import catalogue
from fraud_assets.orchestration.factory import check_names

pytestmark = pytest.mark.e2e

QUERY = """{ assetNodes(group: {groupName: "engine_1A", repositoryName: "__repository__",
  repositoryLocationName: "fraud_assets.definitions"}) {
  assetKey { path } partitionKeysByDimension { name partitionKeys }
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, query: str) -> dict:
    request = urllib.request.Request(url, json.dumps({"query": query}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_ui_lists_1a_assets_with_blocking_checks_under_world_partitions(world_home):
    assert cli.main(["world", "register", "--preset", "tiny", "--seed", "42"]) == 0
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-m", "fraud_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                nodes = _post(f"http://127.0.0.1:{port}/graphql", QUERY)["data"]["assetNodes"]
                break
            except OSError:
                assert time.monotonic() < deadline, "webserver did not come up in 120 s"
                time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    listed = {tuple(n["assetKey"]["path"]): n for n in nodes}
    for state in catalogue.segment("1A").states:
        node = listed[state.asset_key]
        checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
        assert checks == {name: True for name in check_names(state)}
        dimensions = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
        assert "42" in dimensions["seed"] and len(dimensions["manifest_fingerprint"]) >= 1
