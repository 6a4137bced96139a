"""Fault switches from another process: commands, schedules, the token-protected control
endpoint, and `slt emulator --faults FILE` run as a process."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slt.emulator.control import FaultSpecError, load_schedule, parse_command, parse_commands
from slt.emulator.faults import Failure
from slt.emulator.streams import Channel, Malformed

from emu_helpers import BTC, CONFIG, TIMEOUT_S, async_test, quote, running
from emulator_process import emulator_process, run_emulator_cli

TOKEN = "control-test-token-0123456789"
ORDER = "/fapi/v1/order"


def test_commands_are_read_with_their_defaults() -> None:
    command = parse_command({"fault": "fail_next", "count": 2, "path": ORDER})
    assert command.args == {
        "count": 2,
        "failure": Failure.UNKNOWN,
        "after_execution": False,
        "path": ORDER,
    }
    spoil = parse_command({"fault": "malform_next", "kind": "nan", "channel": "user"})
    assert spoil.args == {"kind": Malformed.NAN, "count": 1, "channel": Channel.USER}
    assert [c.fault for c in parse_commands([{"fault": "clear"}, {"fault": "ban", "ms": 5}])] == [
        "clear",
        "ban",
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fault": "explode"}, "fault.fault: must be one of"),
        ({"fault": "fail_next", "count": -1}, "fault.count: must be a non-negative integer"),
        ({"fault": "fail_next", "failure": "boom"}, "fault.failure: must be one of unknown"),
        ({"fault": "fail_share", "share": 2}, "fault.share: must be a number in [0, 1]"),
        ({"fault": "fail_next", "path": "order"}, "fault.path: must be a path"),
        ({"fault": "silent", "on": "yes"}, "fault.on: must be true or false"),
        ({"fault": "ban", "ms": 5, "extra": 1}, "fault.extra: unknown key"),
        ({"fault": "clear", "at_s": -1}, "fault.at_s: must be a number of seconds"),
        ("clear", "fault: must be an object"),
    ],
)
def test_a_bad_command_is_refused_naming_its_key(raw: object, message: str) -> None:
    with pytest.raises(FaultSpecError) as refused:
        parse_command(raw)
    assert str(refused.value).startswith(message), refused


def test_a_schedule_file_is_sorted_by_time_and_names_its_bad_entry(tmp_path: Path) -> None:
    toml = tmp_path / "faults.toml"
    toml.write_text(
        '[[fault]]\nat_s = 5\nfault = "silent"\n\n[[fault]]\nat_s = 1.5\nfault = "ban"\nms = 9\n'
    )
    assert [(c.fault, c.at_ms) for c in load_schedule(toml)] == [("ban", 1500), ("silent", 5000)]
    bad = tmp_path / "faults.json"
    bad.write_text(orjson.dumps([{"fault": "ban"}, {"fault": "fail_next", "count": "2"}]).decode())
    with pytest.raises(FaultSpecError, match=r"faults.json\[1\].count"):
        load_schedule(bad)
    with pytest.raises(FaultSpecError, match="--faults"):
        load_schedule(tmp_path / "missing.toml")


def test_the_cli_refuses_a_bad_schedule_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "faults.toml"
    bad.write_text('[[fault]]\nfault = "fail_next"\ncount = "many"\n')
    result = run_emulator_cli(["--faults", str(bad)])
    assert result.returncode == 2
    assert "faults.toml[0].count: must be a non-negative integer" in result.stderr
    assert "Traceback" not in result.stderr


@async_test
async def test_the_control_endpoint_needs_the_token_and_applies_commands() -> None:
    async with running(replace(CONFIG, control_token=TOKEN)) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        url = emu.rest_url + "/_emulator/faults"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        command = orjson.dumps({"fault": "fail_next", "failure": "internal", "path": ORDER})
        async with client.session.post(url, data=command) as anonymous:
            assert anonymous.status == 401
        wrong = {"Authorization": "Bearer x"}
        async with client.session.post(url, data=command, headers=wrong) as r:
            assert r.status == 401
        async with client.session.post(url, data=b'{"fault": "nope"}', headers=auth) as r:
            assert r.status == 400 and "fault.fault" in (await r.json())["error"]
        async with client.session.post(url, data=command, headers=auth) as r:
            assert (r.status, await r.json()) == (200, {"applied": ["fail_next"]})
        status, _, body = await client.signed(
            "POST", ORDER, symbol=BTC, side="BUY", type="MARKET", quantity="0.010"
        )
        assert (status, body["code"]) == (503, -1001)
        async with client.session.get(emu.rest_url + "/_emulator/state", headers=auth) as r:
            state = await r.json()
        assert state["order_calls"] == 1 and state["fills"] == 0


@async_test
async def test_without_a_token_there_is_no_control_endpoint() -> None:
    async with running() as (_, client):
        status, _, _ = await client.raw("POST", "/_emulator/faults", body="{}")
        assert status == 404


def test_a_bot_in_another_process_meets_scheduled_and_switched_faults(tmp_path: Path) -> None:
    schedule = tmp_path / "faults.json"
    schedule.write_text(
        orjson.dumps({"fault": [{"fault": "fail_next", "count": 1, "path": "/fapi/v1/time"}]})
        .decode()
    )
    with emulator_process("--faults", str(schedule), "--control-token", TOKEN) as emu:
        assert "fault schedule: 1 switch(es)" in emu.banner
        assert emu.token == TOKEN

        async def scenario() -> None:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession() as http:
                # The scheduled fault (at 0 s) answers the first time request...
                async with http.get(emu.rest_url + "/fapi/v1/time") as r:
                    assert r.status == 503 and "Unknown error" in await r.text()
                async with http.get(emu.rest_url + "/fapi/v1/time") as r:
                    assert r.status == 200
                # ...and a switch flipped over HTTP throttles the next one.
                ws = await http.ws_connect(emu.ws_url + "/public/ws/btcusdt@bookTicker")
                throttle = {"fault": "throttle_next", "retry_after_s": 7}
                async with http.post(
                    emu.rest_url + "/_emulator/faults", json=throttle, headers=auth
                ) as r:
                    assert r.status == 200
                async with http.get(emu.rest_url + "/fapi/v1/time") as r:
                    assert (r.status, r.headers["Retry-After"]) == (429, "7")
                async with http.get(emu.rest_url + "/_emulator/state", headers=auth) as r:
                    state = await r.json()
                assert state["ws_connections"] == 1 and state["requests"] == 3
                await ws.close()

        asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["fault", "count", "failure", "path", "share", "seed", "ms", "on", "kind", "channel", "at_s"]
)
_COMMANDS = st.dictionaries(_KEYS, _JSON | st.sampled_from(["fail_next", "ban", "silent"]))


@settings(max_examples=150, deadline=None)
@given(st.one_of(_JSON, _COMMANDS, st.lists(_COMMANDS, max_size=3)))
def test_any_json_is_a_command_list_or_a_fault_spec_error(raw: object) -> None:
    try:
        commands = parse_commands(raw)
    except FaultSpecError as refused:
        assert str(refused).startswith("fault")  # names where the problem is
    else:
        assert all(c.fault in {"fail_next", "ban", "silent"} for c in commands)


def test_the_token_comes_from_the_environment_or_is_made_up() -> None:
    with emulator_process(env={**os.environ, "SLT_EMULATOR_TOKEN": "from-the-env"}) as emu:
        assert emu.token == "from-the-env"
    without = {k: v for k, v in os.environ.items() if k != "SLT_EMULATOR_TOKEN"}
    with emulator_process(env=without) as first, emulator_process(env=without) as second:
        assert len(first.token) >= 32 and first.token != second.token
