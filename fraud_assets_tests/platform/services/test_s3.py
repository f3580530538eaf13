"""The moto launcher's conditional-put serialisation (needs no server)."""

from __future__ import annotations

import pytest

from fraud_assets.platform.services import s3 as svc


def test_conditional_puts_are_serialised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3.responses import S3Response

    original = S3Response.put_object
    monkeypatch.setattr(S3Response, "put_object", original)  # restored after the test
    assert svc.serialise_conditional_puts()
    patched = S3Response.put_object
    assert patched is not original and getattr(patched, "_fa_serialised", False)
    assert svc.serialise_conditional_puts()  # idempotent: not wrapped twice
    assert S3Response.put_object is patched


def test_health_of_a_closed_port_is_false() -> None:
    from fraud_assets.platform.services import free_port

    assert not svc.is_healthy(svc.endpoint_for(free_port()), timeout_s=0.5)
