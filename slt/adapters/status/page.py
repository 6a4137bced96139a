"""The status page: one small HTML document, no external resource.

It reloads itself every `refresh_s` seconds (a meta refresh). When the server takes commands,
the page has buttons for them and one small inline script (`CONTROL_SCRIPT`, allowed by its
hash in the Content-Security-Policy, every other script being forbidden) that POSTs a
button's command with the token from the page's address in the Authorization header, never in
a cookie, so that no other site can make the browser send a command; the page then reloads
to show the effect, with the answer next to the buttons and the audited commands in a table.
Elements carry ids and data attributes so that a browser test, or an operator's scraper, can
find the figures.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import UTC, datetime
from decimal import Decimal

from slt.application.control.commands import OPERATOR, SHUTDOWN_REASON
from slt.application.status.snapshot import StatusSnapshot

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1d2329}
h1{font-size:1.3rem;margin:0 0 .8rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.2rem .55rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;font-weight:600}
.NORMAL{background:#dafbe1;color:#116329}.WARNING{background:#fff8c5;color:#7d4e00}
.THROTTLED{background:#ffe2cc;color:#953800}.BLOCKED{background:#ffebe9;color:#a40e26}
.stale{color:#a40e26;font-weight:600}.pos{color:#116329}.neg{color:#a40e26}
.cards{display:flex;gap:1.5rem;flex-wrap:wrap}.card{min-width:9rem}
.card b{display:block;font-size:1.15rem}.muted{color:#57606a}
.controls button{margin:0 .4rem .4rem 0;padding:.3rem .8rem}
#control-result{display:block;white-space:pre-wrap;margin:.3rem 0;font-family:monospace}
"""

# Sends a button's command with the token from the page's address, then reloads the page so
# that it shows the effect; the answer survives the reload in sessionStorage (never the token).
CONTROL_SCRIPT = """
const token = new URLSearchParams(location.search).get("token");
const out = document.getElementById("control-result");
const KEY = "slt-control-result";
function show(ok, text) { out.dataset.ok = ok; out.textContent = text; }
const last = sessionStorage.getItem(KEY);
if (last) { sessionStorage.removeItem(KEY); const r = JSON.parse(last); show(r.ok, r.text); }
async function send(button) {
  if (!token) { show("false", "open the page as /?token=... to send commands"); return; }
  const ask = button.dataset.confirm;
  if (ask && !window.confirm(ask)) { return; }
  show("", "sending /" + button.dataset.command + "...");
  let answer;
  try {
    const response = await fetch("/api/control/" + button.dataset.command, {
      method: "POST", cache: "no-store", credentials: "omit",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify({args: button.dataset.args || ""}),
    });
    answer = await response.json();
  } catch (error) {
    show("false", "request failed: " + error);
    return;
  }
  const text = "/" + button.dataset.command + ": " + (answer.result || answer.error);
  sessionStorage.setItem(KEY, JSON.stringify({ok: String(answer.ok === true), text: text}));
  location.reload();
}
for (const button of document.querySelectorAll("button[data-command]")) {
  button.addEventListener("click", () => send(button));
}
"""
CONTROL_SCRIPT_HASH = "sha256-" + base64.b64encode(
    hashlib.sha256(CONTROL_SCRIPT.encode()).digest()
).decode()

_BUTTONS = (
    ("stopentry", "", "stop entries", ""),
    ("start", "", "resume entries", ""),
    ("pause", "60", "pause entries 1 h", ""),
    ("reload_config", "", "reload config", ""),
    ("forceexit", "all", "force exit all", "Send a market exit for EVERY open position?"),
)


def _t(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _e(value: object) -> str:
    return html.escape("—" if value is None else str(value))


def _signed(d: Decimal | None) -> str:
    if d is None:
        return "<td>—</td>"
    cls = "pos" if d > 0 else "neg" if d < 0 else ""
    return f'<td class="{cls}">{d:+.4f}</td>'


def _table(headers: tuple[str, ...], rows: list[str], empty: str, table_id: str) -> str:
    if not rows:
        return f'<p id="{table_id}" class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _button(command: str, args: str, label: str, confirm: str) -> str:
    ask = f' data-confirm="{_e(confirm)}"' if confirm else ""
    return (
        f'<button type="button" id="btn-{command}{"-" + _e(args) if args else ""}"'
        f' data-command="{command}" data-args="{_e(args)}"{ask}>{_e(label)}</button>'
    )


def _controls(s: StatusSnapshot) -> list[str]:
    extra = [
        _button("forceexit", p.symbol, f"force exit {p.symbol}",
                f"Send a market exit for {p.symbol}?")
        for p in s.positions
    ]
    commands = [
        f'<tr data-command="{_e(c.command)}" data-ok="{str(c.ok).lower()}">'
        f"<td>{_t(c.ts_ms)}</td><td>{_e(c.source)}</td><td>{_e(c.user)}</td>"
        f"<td>/{_e(c.command)} {_e(c.args)}</td><td>{'ok' if c.ok else 'refused'}</td>"
        f"<td>{_e(c.result)}</td></tr>"
        for c in s.commands
    ]
    halt = s.entries_halted
    if halt and not halt.startswith(OPERATOR) and halt != SHUTDOWN_REASON:
        extra.insert(0, _button("start", "force", "resume entries anyway",
                                f"Entries were halted by the bot ({halt}). Resume them?"))
    return [
        "<h2>Control</h2>",
        '<div class="controls">',
        *(_button(*b) for b in _BUTTONS),
        *extra,
        "</div>",
        '<output id="control-result" data-ok=""></output>',
        _table(
            ("at (UTC)", "source", "user", "command", "", "answer"),
            commands,
            "No commands yet.",
            "commands",
        ),
    ]


def render(s: StatusSnapshot, *, refresh_s: int = 10, controls: bool = False) -> str:
    level = _e(s.breaker_level)
    model = (
        "rules (no model)"
        if s.model is None
        else f"{s.model.version}" + ("" if s.model.in_service else " (rules decide)")
    )
    report = (
        "none yet"
        if s.last_report is None
        else f"{s.last_report.day}: {s.last_report.trades} trades, {s.last_report.net_pnl:+.2f}"
    )
    equity = None if s.equity is None else f"{s.equity:.2f}"
    cards = [
        ("mode", f'<span id="mode">{_e(s.mode)}</span>'),
        (
            "new entries",
            f'<span id="entries">{"halted: " + _e(s.entries_halted) if s.entries_halted else "on"}'
            "</span>",
        ),
        ("circuit breaker", f'<span id="breaker-level" class="badge {level}">{level}</span>'),
        ("open positions", f'<span id="open-positions">{len(s.positions)}</span>'),
        (
            "today's P&amp;L (USDT)",
            f'<span id="today-pnl">{s.today_pnl:+.4f}</span>'
            f' <small class="muted">{s.today_trades} trades</small>',
        ),
        ("equity (USDT)", f'<span id="equity">{_e(equity)}</span>'),
        ("model", f'<span id="model-version">{_e(model)}</span>'),
        (
            "families (permission to trade)",
            '<span id="permissions">'
            + ("<br>".join(_e(line) for line in s.permissions) or "none yet")
            + "</span>",
        ),
        ("last report", f'<span id="last-report">{_e(report)}</span>'),
    ]
    positions = [
        f'<tr data-symbol="{_e(p.symbol)}" data-side="{_e(p.side)}"><td>{_e(p.symbol)}</td>'
        f"<td>{_e(p.side)}</td><td>{_e(p.status)}</td><td>{_e(p.qty)}</td>"
        f"<td>{_e(p.entry_price)}</td><td>{_e(None if p.mark is None else f'{p.mark:.8g}')}</td>"
        f"<td>{_e(p.stop)}</td><td>{_e(p.take_profit)}</td>{_signed(p.unrealized_pnl)}"
        f"<td>{_t(p.opened_ms)}</td><td>#{p.id}</td></tr>"
        for p in s.positions
    ]
    orders = [
        f'<tr data-client-id="{_e(o.client_id)}"><td>{_e(o.symbol)}</td><td>{_e(o.purpose)}</td>'
        f"<td>{_e(o.side)}</td><td>{_e(o.type)}</td><td>{_e(o.qty)}</td><td>{_e(o.price)}</td>"
        f"<td>{_e(o.stop_price)}</td><td>{_e(o.status)}</td><td>{_e(o.client_id)}</td></tr>"
        for o in s.open_orders
    ]
    feeds = [
        f'<tr data-symbol="{_e(f.symbol)}" data-stale="{str(f.stale).lower()}">'
        f"<td>{_e(f.symbol)}</td>"
        f'<td class="{"stale" if f.stale else ""}">{"stale" if f.stale else "ok"}</td>'
        f"<td>{_e(None if f.age_ms is None else f'{f.age_ms / 1000:.1f} s')}</td>"
        f"<td>{_e(f.bid)}</td><td>{_e(f.ask)}</td></tr>"
        for f in s.feeds
    ]
    loops = [
        f"<tr><td>{_e(loop.name)}</td><td>{loop.runs}</td><td>{loop.failures}</td>"
        f"<td>{loop.skipped}</td>"
        f"<td>{_e(None if loop.last_duration_ms is None else f'{loop.last_duration_ms:.1f} ms')}"
        "</td></tr>"
        for loop in s.loops
    ]
    r = s.runtime
    connectivity = (
        []
        if r is None
        else [
            f"<tr><td>{k}</td><td>{v}</td></tr>"
            for k, v in (
                ("WebSocket reconnects", r.ws_reconnects),
                ("stale periods", r.stale_periods),
                ("time stale", "n/a" if r.stale_ms is None else f"{r.stale_ms / 1000:.1f} s"),
                ("messages dropped", r.messages_dropped),
                ("REST weight used", r.rest_weight_used),
                ("counted since", f"{_t(r.since_ms)} UTC"),
            )
        ]
    )
    notifiers = [
        f"<tr><td>{_e(n.name)}</td><td>{n.queued}</td><td>{n.sent}</td><td>{n.failed}</td>"
        f"<td>{n.dropped}</td></tr>"
        for n in s.notifiers
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{refresh_s}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>slt status</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>slt status <small class="muted">at {_t(s.generated_ms)} UTC</small></h1>',
        '<div class="cards">',
        *(f'<div class="card"><span class="muted">{k}</span><b>{v}</b></div>' for k, v in cards),
        "</div>",
        *(_controls(s) if controls else ()),
        "<h2>Positions</h2>",
        _table(
            (
                "symbol",
                "side",
                "status",
                "qty",
                "entry",
                "mark",
                "stop",
                "target",
                "unrealised",
                "opened (UTC)",
                "id",
            ),
            positions,
            "No open positions.",
            "positions",
        ),
        "<h2>Open orders</h2>",
        _table(
            (
                "symbol",
                "purpose",
                "side",
                "type",
                "qty",
                "price",
                "stop price",
                "status",
                "client id",
            ),
            orders,
            "No open orders.",
            "orders",
        ),
        "<h2>Feed health</h2>",
        _table(
            ("symbol", "state", "quote age", "bid", "ask"), feeds, "No symbols subscribed.", "feeds"
        ),
        "<h2>Loops</h2>",
        _table(("loop", "runs", "failures", "skipped", "last run"), loops, "No loops.", "loops"),
        "<h2>Connectivity</h2>",
        _table(
            ("counter", "value"),
            connectivity,
            "No connection counters (simulation).",
            "connectivity",
        ),
        "<h2>Notifications</h2>",
        _table(
            ("notifier", "queued", "sent", "failed", "dropped"),
            notifiers,
            "No notifier configured.",
            "notifiers",
        ),
        *((f"<script>{CONTROL_SCRIPT}</script>",) if controls else ()),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
