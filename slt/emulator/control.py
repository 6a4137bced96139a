"""Fault switches reachable from another process: commands, their schedule file, and the
token-protected control endpoint.

A command is a JSON/TOML object naming one switch of `Faults` and its arguments:

    {"fault": "fail_next", "count": 2, "failure": "unknown", "path": "/fapi/v1/order"}

`POST /_emulator/faults` (header `Authorization: Bearer <token>`) takes one command or a list
and applies them at once; `GET /_emulator/state` reports what the emulator saw (for assertions
from another process). `slt emulator --faults FILE` applies a schedule: the same commands, each
with `at_s`, seconds after start. A bad command is refused whole, with a message naming the
entry and key; nothing of it is applied.
"""

from __future__ import annotations

import hmac
import math
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from slt.emulator.faults import Failure, Faults
from slt.emulator.streams import Channel, Malformed
from slt.ports.clock import Clock

CONTROL_PREFIX = "/_emulator"


class FaultSpecError(ValueError):
    """A fault command or schedule that cannot be applied; the message names the key."""


@dataclass(frozen=True, slots=True)
class Command:
    """One validated fault switch, applied by `apply`; `at_ms` is its delay in a schedule."""

    fault: str
    args: Mapping[str, Any]
    at_ms: int = 0


class _Args:
    """Reads a command's arguments, naming `where` in every complaint."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where
        self.used = {"fault", "at_s"}

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        return self.raw.get(key, default)

    def _bad(self, key: str, what: str) -> FaultSpecError:
        return FaultSpecError(f"{self.where}.{key}: {what}")

    def count(self, key: str = "count", default: int = 1) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._bad(key, f"must be a non-negative integer, not {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, f"must be true or false, not {value!r}")
        return value

    def share(self, key: str = "share") -> float:
        value = self._get(key, None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise self._bad(key, f"must be a number in [0, 1], not {value!r}")
        return float(value)

    def path(self) -> str | None:
        value = self._get("path", None)
        if value is not None and not (isinstance(value, str) and value.startswith("/")):
            raise self._bad("path", f"must be a path such as /fapi/v1/order, not {value!r}")
        return value

    def choice(self, key: str, kind: type[Any], default: str) -> Any:
        value = self._get(key, default)
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(str(v) for v in kind)
            raise self._bad(key, f"must be one of {names}, not {value!r}") from None

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise self._bad(unknown[0], "unknown key")


def _fail_next(a: _Args) -> dict[str, Any]:
    return {
        "count": a.count(),
        "failure": a.choice("failure", Failure, Failure.UNKNOWN),
        "after_execution": a.flag("after_execution", False),
        "path": a.path(),
    }


def _fail_share(a: _Args) -> dict[str, Any]:
    return {
        "share": a.share(),
        "failure": a.choice("failure", Failure, Failure.UNKNOWN),
        "after_execution": a.flag("after_execution", False),
        "path": a.path(),
        "seed": a.count("seed", 0),
    }


def _throttle_next(a: _Args) -> dict[str, Any]:
    return {"count": a.count(), "retry_after_s": a.count("retry_after_s", 1)}


def _ms(a: _Args) -> dict[str, Any]:
    return {"ms": a.count("ms", 0)}


def _silent(a: _Args) -> dict[str, Any]:
    return {"on": a.flag("on", True)}


def _drop(a: _Args) -> dict[str, Any]:
    return {"abrupt": a.flag("abrupt", True)}


def _malform_next(a: _Args) -> dict[str, Any]:
    return {
        "kind": a.choice("kind", Malformed, Malformed.TRUNCATED),
        "count": a.count(),
        "channel": a.choice("channel", Channel, Channel.MARKET),
    }


def _count_only(a: _Args) -> dict[str, Any]:
    return {"count": a.count()}


def _nothing(a: _Args) -> dict[str, Any]:
    return {}


_READERS: dict[str, Callable[[_Args], dict[str, Any]]] = {
    "fail_next": _fail_next,
    "fail_share": _fail_share,
    "throttle_next": _throttle_next,
    "ban": _ms,
    "rest_delay": _ms,
    "silent": _silent,
    "drop_connections": _drop,
    "malform_next": _malform_next,
    "duplicate_next_user_event": _count_only,
    "expire_listen_key": _nothing,
    "clear": _nothing,
}


def parse_command(raw: object, where: str = "fault") -> Command:
    if not isinstance(raw, Mapping):
        raise FaultSpecError(f"{where}: must be an object with a 'fault' key")
    name = raw.get("fault")
    reader = _READERS.get(name) if isinstance(name, str) else None
    if reader is None:
        raise FaultSpecError(f"{where}.fault: must be one of {', '.join(_READERS)}, not {name!r}")
    at_s = raw.get("at_s", 0)
    if isinstance(at_s, bool) or not isinstance(at_s, int | float) or not 0 <= at_s < math.inf:
        raise FaultSpecError(f"{where}.at_s: must be a number of seconds >= 0, not {at_s!r}")
    args = _Args(raw, where)
    values = reader(args)
    args.done()
    return Command(name, values, round(at_s * 1000))


def parse_commands(raw: object, where: str = "fault") -> list[Command]:
    """One command or a list of them; a schedule document keeps its list under `fault`."""
    if isinstance(raw, Mapping) and isinstance(raw.get("fault"), list):
        raw = raw["fault"]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return [parse_command(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    return [parse_command(raw, where)]


def load_schedule(path: Path) -> list[Command]:
    """A TOML (`[[fault]]` tables) or JSON schedule; raise FaultSpecError naming the problem."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FaultSpecError(f"--faults {path}: {error.strerror}") from None
    try:
        raw = tomllib.loads(data.decode()) if path.suffix == ".toml" else orjson.loads(data)
    except (tomllib.TOMLDecodeError, orjson.JSONDecodeError, UnicodeDecodeError) as error:
        raise FaultSpecError(f"--faults {path}: {error}") from None
    commands = parse_commands(raw, path.name)
    return sorted(commands, key=lambda c: c.at_ms)


async def apply(faults: Faults, command: Command) -> None:
    a = command.args
    match command.fault:
        case "fail_next":
            faults.fail_next(
                a["count"], a["failure"], after_execution=a["after_execution"], path=a["path"]
            )
        case "fail_share":
            faults.fail_share(
                a["share"],
                a["failure"],
                after_execution=a["after_execution"],
                path=a["path"],
                seed=a["seed"],
            )
        case "throttle_next":
            faults.throttle_next(a["count"], a["retry_after_s"])
        case "ban":
            faults.ban(a["ms"])
        case "rest_delay":
            faults.rest_delay_ms = a["ms"]
        case "silent":
            faults.silent = a["on"]
        case "drop_connections":
            await faults.drop_connections(abrupt=a["abrupt"])
        case "malform_next":
            faults.malform_next(a["kind"], a["count"], a["channel"])
        case "duplicate_next_user_event":
            faults.duplicate_next_user_event(a["count"])
        case "expire_listen_key":
            faults.expire_listen_key()
        case "clear":
            faults.clear()


async def run_schedule(faults: Faults, clock: Clock, commands: Sequence[Command]) -> None:
    """Apply each command `at_ms` after this starts, in order."""
    start = clock.now_ms()
    for command in commands:
        await clock.sleep_until(start + command.at_ms)
        await apply(faults, command)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def control_routes(
    token: str, faults: Faults, state: Callable[[], dict[str, Any]]
) -> list[tuple[str, str, Handler]]:
    """The control endpoint's routes, each refusing a request without the bearer token."""

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    async def post_faults(request: web.Request) -> web.StreamResponse:
        if not authorised(request):
            return _error(401, "missing or wrong bearer token")
        try:
            commands = parse_commands(orjson.loads(await request.read()))
        except orjson.JSONDecodeError as error:
            return _error(400, f"body is not JSON: {error}")
        except FaultSpecError as error:
            return _error(400, str(error))
        for command in commands:
            await apply(faults, command)
        return web.json_response({"applied": [c.fault for c in commands]})

    async def get_state(request: web.Request) -> web.StreamResponse:
        if not authorised(request):
            return _error(401, "missing or wrong bearer token")
        return web.Response(body=orjson.dumps(state()), content_type="application/json")

    return [
        ("POST", f"{CONTROL_PREFIX}/faults", post_faults),
        ("GET", f"{CONTROL_PREFIX}/state", get_state),
    ]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
