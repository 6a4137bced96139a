"""A DayReport as Markdown and as one self-contained HTML file.

Both are rendered from the same list of blocks, so they never disagree. The HTML has inline
CSS and the chart as a data URI: it can be mailed or opened from disk, and loads nothing.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from slt.application.reporting.analysis import DayReport, OutcomeStats, iso

NA = "n/a"


@dataclass(frozen=True, slots=True)
class Bullets:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str  # said instead of an empty table


@dataclass(frozen=True, slots=True)
class Chart:
    alt: str
    name: str = "equity"  # which of the images given to the renderer


Block = Bullets | Table | Chart


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def money(d: Decimal) -> str:
    return f"{d:.4f}"


def pct(x: float | None) -> str:
    return NA if x is None else f"{x:.1%}"


def r_value(x: float | None) -> str:
    return NA if x is None else f"{x:+.3f} R"


def duration(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s"


def title(report: DayReport) -> str:
    partial = (
        ""
        if report.complete
        else (f" — {iso(report.day_start_ms)[11:16]} to {iso(report.day_end_ms)[11:16]} only")
    )
    return f"slt daily report {report.day} (UTC){partial}"


def sections(report: DayReport, *, chart: bool) -> list[Section]:
    return [
        Section("", (_summary(report),) + ((Chart("equity curve"),) if chart else ())),
        Section("Per symbol", (_per_symbol(report),)),
        Section("Exit reasons", (_exits(report),)),
        Section("Outcomes: real vs virtual", (_outcomes(report),)),
        Section("Model", (_model(report),)),
        Section("Permission to trade", (_permissions(report),)),
        Section("Circuit breaker", _breaker(report)),
        Section("Connectivity", (_runtime(report),)),
        Section("Trades", (_trades(report),)),
    ]


def _summary(r: DayReport) -> Bullets:
    if r.max_drawdown_pct is None:
        dd = f"{money(r.max_drawdown)} USDT"
    else:
        dd = f"{money(r.max_drawdown)} USDT ({r.max_drawdown_pct:.2%})"
    wallet = NA if r.wallet_end is None else f"{money(r.wallet_end)} USDT"
    expectancy = (
        f"{r_value(r.real.expectancy_r)} over {r.real.count} real outcomes"
        if r.real.count
        else f"{NA} (no real outcomes)"
    )
    return Bullets(
        (
            f"trades closed: {r.count}",
            f"win rate: {r.win_rate:.1%}",
            f"net P&L: {money(r.net_pnl)} USDT (fees {money(r.fees)})",
            f"funding and other account moves: {_moves(r)}",
            f"expectancy: {expectancy}",
            f"max drawdown: {dd}",
            f"best / worst trade: {money(r.best)} / {money(r.worst)}",
            f"wallet at day end: {wallet}",
            f"open positions at report: {NA if r.open_positions is None else r.open_positions}",
        )
    )


def _moves(r: DayReport) -> str:
    """Funding is already inside the net P&L of the trades it was paid on; a fee left in
    another asset is not, and says so."""
    if not r.account_moves:
        return "none"
    return "; ".join(
        f"{kind.lower()} {money(amount)} {asset}"
        + ("" if asset == "USDT" else " (not in the USDT totals)")
        for kind, asset, amount in r.account_moves
    )


def _per_symbol(r: DayReport) -> Table:
    return Table(
        ("symbol", "trades", "wins", "win rate", "net P&L", "fees"),
        tuple(
            (s.symbol, str(s.trades), str(s.wins), pct(s.win_rate), money(s.net_pnl), money(s.fees))
            for s in r.per_symbol
        ),
        "No trades closed.",
    )


def _exits(r: DayReport) -> Bullets:
    return Bullets(
        tuple(f"{e.reason}: {e.count} (net P&L {money(e.net_pnl)} USDT)" for e in r.exits)
        or ("none",)
    )


def _outcome_row(kind: str, s: OutcomeStats) -> tuple[str, ...]:
    return (kind, str(s.count), pct(s.hit_rate), r_value(s.expectancy_r), f"{s.total_r:+.3f}")


def _outcomes(r: DayReport) -> Table:
    rows = (_outcome_row("real", r.real), _outcome_row("virtual", r.virtual))
    rows += tuple(("virtual, not taken: " + why, str(n), "", "", "") for why, n in r.not_taken)
    return Table(("kind", "outcomes", "hit rate", "expectancy", "total R"), rows, "")


def _model(r: DayReport) -> Bullets:
    m = r.model
    if m is None:
        return Bullets(("No model version recorded (rule-based trader).",))
    if not m.in_service:
        return Bullets(
            (
                f"The rules decide since {iso(m.activated_ms)}: model version {m.version} did"
                " not beat them in validation.",
            )
        )
    return Bullets(
        (
            f"version: {m.version} (in service since {iso(m.activated_ms)})",
            f"live hit rate: {pct(m.live.hit_rate)} over {m.live.count} real outcomes"
            f" (validation estimate {pct(m.validation_hit_rate)})",
            f"live expectancy: {r_value(m.live.expectancy_r)}"
            f" (validation estimate {r_value(m.validation_expectancy_r)})",
        )
    )


def _permissions(r: DayReport) -> Bullets:
    return Bullets(r.permissions or ("No outcomes yet: every candidate family trades virtually.",))


def _breaker(r: DayReport) -> tuple[Block, ...]:
    b = r.breaker
    span = r.day_end_ms - r.day_start_ms
    changes = tuple(f"{iso(e.ts_ms)} {e.source} -> {e.target} ({e.cause})" for e in b.events)
    return (
        Bullets((f"level at day start: {b.start_level}", *(changes or ("No level changes.",)))),
        Table(
            ("level", "time", "share"),
            tuple(
                (level, duration(ms), pct(ms / span if span else None))
                for level, ms in b.time_in_level_ms
            ),
            "",
        ),
    )


def _runtime(r: DayReport) -> Bullets:
    w = r.runtime
    if w is None:
        return Bullets(
            (
                f"WebSocket reconnects: {NA}",
                f"feed stale periods: {NA}",
                f"market-data messages dropped: {NA}",
                f"REST weight used: {NA}",
            )
        )
    s = w.stats
    # Counted from the previous report, normally this day's start; say so when it is not.
    since = (
        "" if w.counted_from_ms == r.day_start_ms else f" (counted from {iso(w.counted_from_ms)})"
    )
    return Bullets(
        (
            f"WebSocket reconnects: {s.ws_reconnects}{since}",
            f"feed stale periods: {s.stale_periods}"
            f" (total {NA if s.stale_ms is None else duration(s.stale_ms)})",
            f"market-data messages dropped: {s.messages_dropped}",
            f"REST weight used: {s.rest_weight_used}",
        )
    )


def _trades(r: DayReport) -> Table:
    return Table(
        ("closed", "symbol", "side", "qty", "entry", "exit", "net P&L", "reason"),
        tuple(
            (
                iso(t.close_ms),
                t.symbol,
                t.side,
                str(t.qty),
                str(t.entry_price),
                f"{t.exit_price:.8g}",
                money(t.pnl),
                t.exit_reason,
            )
            for t in r.trades
        ),
        "No trades closed.",
    )


# --- Markdown ---


def markdown(report: DayReport, chart_file: str | None) -> str:
    files = {} if chart_file is None else {"equity": chart_file}
    return markdown_document(title(report), sections(report, chart=chart_file is not None), files)


def markdown_document(heading: str, parts: Sequence[Section], files: Mapping[str, str]) -> str:
    """`files`: the image file of each chart name; a chart without one is named, not shown."""
    lines = [f"# {heading}"]
    for section in parts:
        if section.title:
            lines += ["", f"## {section.title}"]
        for block in section.blocks:
            lines.append("")
            lines += _md_block(block, files)
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _md_block(block: Block, files: Mapping[str, str]) -> list[str]:
    if isinstance(block, Bullets):
        return [f"- {line}" for line in block.lines]
    if isinstance(block, Chart):
        if block.name not in files:
            return [f"*Chart: {block.alt} (in the HTML report).*"]
        return [f"![{block.alt}]({files[block.name]})"]
    if not block.rows:
        return [block.empty] if block.empty else []
    return [
        "| " + " | ".join(block.headers) + " |",
        "|" + "---|" * len(block.headers),
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows),
    ]


# --- HTML ---

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:62rem;
color:#1d2329;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f5f7}img{max-width:100%}
"""


def html_page(report: DayReport, chart_png: bytes | None) -> str:
    pngs = {} if chart_png is None else {"equity": chart_png}
    return html_document(title(report), sections(report, chart=chart_png is not None), pngs)


def html_document(heading: str, parts: Sequence[Section], pngs: Mapping[str, bytes]) -> str:
    """One self-contained page: inline CSS, each chart's PNG (by name) as a data URI."""
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
    ]
    for section in parts:
        if section.title:
            page.append(f"<h2>{html.escape(section.title)}</h2>")
        page += [_html_block(block, pngs) for block in section.blocks]
    page.append("</body></html>")
    return "\n".join(page) + "\n"


def _html_block(block: Block, pngs: Mapping[str, bytes]) -> str:
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in block.lines) + "</ul>"
    if isinstance(block, Chart):
        data = base64.b64encode(pngs.get(block.name, b"")).decode("ascii")
        return f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>'
    if not block.rows:
        return f"<p>{html.escape(block.empty)}</p>" if block.empty else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_lines(report: DayReport) -> Sequence[str]:
    """The headline figures, for a notification or a terminal."""
    return _summary(report).lines
