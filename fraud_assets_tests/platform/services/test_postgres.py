"""PostgreSQL service helpers that need no server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fraud_assets.platform.services import pid_alive
from fraud_assets.platform.services import postgres as svc


def test_postmaster_pid_file_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "postmaster.pid").write_text(
        "4242\n/data\n1712346200\n55432\n\n127.0.0.1\n  8826964     65536\nready   \n"
    )
    assert svc.read_postmaster(tmp_path) == {"pid": 4242, "port": 55432, "status": "ready"}
    (tmp_path / "postmaster.pid").write_text("garbage\n")
    assert svc.read_postmaster(tmp_path) is None
    assert svc.read_postmaster(tmp_path / "absent") is None


def test_dsn_is_loopback_tcp() -> None:
    assert svc.dsn_for(55432) == "postgresql://postgres@127.0.0.1:55432/fraud_assets"
    assert svc.dsn_for(1, "dagster").endswith(":1/dagster")


def test_binaries_come_from_the_wheel() -> None:
    assert (svc.pg_bin_dir() / "initdb").exists()


def test_run_as_another_user_keeps_only_the_search_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    run_as = svc._RunAs(os.geteuid() + 12345, 4321, Path("/nonexistent"))
    monkeypatch.setattr(svc, "_setpriv", lambda: "/usr/bin/setpriv")
    argv, kwargs = run_as.wrap(["pg_ctl", "start"])
    assert argv[:1] == ["/usr/bin/setpriv"] and argv[-2:] == ["pg_ctl", "start"]
    assert "--ambient-caps=+dac_read_search" in argv and "--clear-groups" in argv and kwargs == {}
    monkeypatch.setattr(svc, "_setpriv", lambda: None)
    argv, kwargs = run_as.wrap(["pg_ctl", "start"])
    assert argv == ["pg_ctl", "start"] and kwargs["user"] == run_as.uid and kwargs["extra_groups"] == []
    same = svc._RunAs(os.geteuid(), os.getegid(), Path("/"))
    assert same.wrap(["x"]) == (["x"], {})


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(None) and not pid_alive(0)
