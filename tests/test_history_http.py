"""The history HTTP client (``indexer.history.http``) against a local server (tests/fake_api.py):
retries on 5xx, 429 with Retry-After, timeouts; what is not retried; the rate limiter; the
secret never in a message or a log line."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from structlog.testing import capture_logs

from indexer.config import HistoryConfig
from indexer.history.http import (
    ApiClient,
    ApiNotFound,
    ApiRefused,
    ApiShapeError,
    ApiUnavailable,
    RateLimiter,
    retry_after_s,
)
from tests.fake_api import FakeApi, Fault

SECRET = "mainnetTESTSECRET0123456789abcdef"


def _client(api: FakeApi, *, blockfrost: bool = False, **kw: object) -> ApiClient:
    cfg = HistoryConfig(source="blockfrost" if blockfrost else "koios",
                        url=api.blockfrost_url if blockfrost else api.koios_url,
                        timeout_s=float(kw.pop("timeout_s", 5.0)),  # type: ignore[arg-type]
                        max_attempts=int(kw.pop("max_attempts", 4)),  # type: ignore[call-overload]
                        backoff_first_s=0.01, backoff_max_s=0.05)
    return ApiClient(cfg.source, cfg, rate_per_s=1000.0, burst=1000,
                     headers={"project_id": SECRET} if blockfrost else None,
                     secrets=[SECRET] if blockfrost else ())


def _tip(api: FakeApi) -> None:
    api.koios_get["/tip"] = lambda p: [{"epoch_no": 300, "hash": "ab" * 32}]


async def test_5xx_then_ok() -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", status=503), Fault("/tip", status=500),
                      Fault("/tip", status=504)]
        async with _client(api) as http:
            with capture_logs() as logs:
                got = await http.get("/tip")
        assert got.data[0]["epoch_no"] == 300
        assert http.requests == 4 == len(api.requests("/tip"))
        # one warning for the request; its later attempts are debug lines (rate-limited)
        warned = [e for e in logs if e["event"] == "history.retry" and e["log_level"] != "debug"]
        assert [(e["attempt"], e["log_level"]) for e in warned] == [(1, "warning")]


async def test_429_honours_retry_after_seconds_and_date() -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", status=429, headers={"Retry-After": "1"})]
        async with _client(api) as http:
            started = time.monotonic()
            await http.get("/tip")
            waited = time.monotonic() - started
        assert waited >= 0.95  # the server's wish, not our 10 ms backoff
        assert len(api.requests("/tip")) == 2
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s(format_datetime(now + timedelta(seconds=42), usegmt=True), now) == 42
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s("soon", now) is None and retry_after_s(None) is None


async def test_429_asking_too_long_is_an_error() -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", status=429, headers={"Retry-After": "86400"})]
        async with _client(api) as http:
            with pytest.raises(ApiUnavailable, match="Retry-After 86400"):
                await http.get("/tip")


async def test_a_timeout_is_retried() -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", delay_s=1.0)]
        async with _client(api, timeout_s=0.2) as http:
            with capture_logs() as logs:
                got = await http.get("/tip")
        assert got.data[0]["epoch_no"] == 300
        assert len(api.requests("/tip")) == 2
        assert "timeout" in next(e for e in logs if e["event"] == "history.retry")["reason"]


async def test_retries_run_out() -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", status=502, times=10)]
        async with _client(api, max_attempts=3) as http:
            with pytest.raises(ApiUnavailable, match=r"failed 3 times; last: .*502"):
                await http.get("/tip")
        assert len(api.requests("/tip")) == 3


@pytest.mark.parametrize(("status", "error", "text"), [
    (400, ApiRefused, "answered 400"), (402, ApiRefused, "daily request limit"),
    (404, ApiNotFound, "answered 404"), (418, ApiRefused, "banned")])
async def test_refusals_are_not_retried(status: int, error: type[Exception], text: str) -> None:
    with FakeApi() as api:
        _tip(api)
        api.faults = [Fault("/tip", status=status)]
        async with _client(api) as http:
            with pytest.raises(error, match=text):
                await http.get("/tip")
        assert len(api.requests("/tip")) == 1


async def test_not_json_is_a_shape_error() -> None:
    with FakeApi(project_id=SECRET) as api:
        api.blockfrost["/genesis"] = {"network_magic": 1}
        api.faults = [Fault("/genesis", body=b"<html>maintenance</html>")]
        async with _client(api, blockfrost=True) as http:
            with pytest.raises(ApiShapeError, match=r"not JSON.*maintenance"):
                await http.get("/genesis")
            assert (await http.get("/genesis")).data == {"network_magic": 1}


async def test_blockfrost_project_id_travels_in_a_header_and_nowhere_else() -> None:
    with FakeApi(project_id=SECRET) as api:
        api.blockfrost["/genesis"] = {"network_magic": 1}
        api.faults = [Fault("/genesis", status=500)]
        with capture_logs() as logs:
            async with _client(api, blockfrost=True) as http:
                got = await http.get("/genesis")
            assert got.data == {"network_magic": 1}
            assert all(r.headers["project_id"] == SECRET for r in api.requests())
            assert SECRET not in got.url and all(SECRET not in r.path for r in api.requests())
            api.project_id = "another"  # now refused: the message must not echo the header
            async with _client(api, blockfrost=True) as http:
                with pytest.raises(ApiRefused) as refused:
                    await http.get("/genesis")
        assert "BLOCKFROST_PROJECT_ID" in str(refused.value)
        assert SECRET not in str(refused.value)
        assert SECRET not in repr(logs)


def test_mask() -> None:
    cfg = HistoryConfig(source="blockfrost", url="http://127.0.0.1:1/api/v0")
    http = ApiClient("blockfrost", cfg, rate_per_s=1, burst=1, secrets=[SECRET])
    assert http.mask(f"x{SECRET}y") == "x***y"


async def test_rate_limiter_bursts_then_keeps_the_rate() -> None:
    bucket = RateLimiter(rate_per_s=10.0, burst=3)
    started = time.monotonic()
    for _ in range(3):
        await bucket.acquire()
    assert time.monotonic() - started < 0.2  # the burst goes at once (lenient bound)
    for _ in range(3):
        await bucket.acquire()
    assert time.monotonic() - started >= 0.28  # then 10/s: three more need 0.3 s
    bucket.hold(0.2)
    held = time.monotonic()
    await bucket.acquire()
    assert time.monotonic() - held >= 0.19


async def test_json_body_and_shape() -> None:
    with FakeApi() as api:
        api.koios_post["/account_stake_history"] = lambda b: [
            {"stake_address": a, "epoch_no": 1, "pool_id_bech32": "p", "active_stake": "1"}
            for a in b["_stake_addresses"]]
        api.faults = [Fault("/account_stake_history", status=503)]
        async with _client(api) as http:
            got = await http.post("/account_stake_history", {"_stake_addresses": ["a", "b"]})
        assert [r["stake_address"] for r in got.data] == ["a", "b"]
        sent = api.requests()
        assert len(sent) == 2 and sent[0].body == sent[1].body  # the body sent again
        assert sent[1].headers["content-type"] == "application/json"
    with pytest.raises(ApiShapeError):
        from indexer.history.source import list_of_objects
        list_of_objects({"not": "a list"}, "koios /x")
