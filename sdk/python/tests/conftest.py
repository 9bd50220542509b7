from __future__ import annotations

from collections.abc import Iterator

import costobs
import pytest
from _fakes import FakeProvider, Receiver
from costobs import _config, _pending, _shipper
from costobs._stats import COUNTERS


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    p = FakeProvider()
    yield p
    p.close()


@pytest.fixture(autouse=True)
def sdk(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """A fresh SDK per test, shipping to the loopback receiver; SDK errors fail the test."""
    for name in list(__import__("os").environ):
        if name.startswith("COSTOBS_"):
            monkeypatch.delenv(name)
    errors: list[BaseException] = []

    def hook(exc: BaseException) -> None:
        errors.append(exc)
        raise exc

    _pending.forget()  # a test that failed midway may have left a background call
    _shipper.shutdown(0.1)
    COUNTERS.__init__()  # type: ignore[misc]
    costobs.configure(
        ingest_url=receiver.url,
        api_key="test-key",
        flush_interval=0.05,
        backoff_base=0.01,
        backoff_max=0.2,
        on_internal_error=hook,
    )
    yield errors
    _shipper.shutdown(1.0)
    _config.set_current(_config.Settings())
    assert not receiver.invalid, receiver.invalid
    if errors:
        raise errors[0]
