"""TCA charts as PNG bytes, from plain data (the API's JSON rows): no I/O but the optional write.

    order_png(report, fills, quotes)   one order: fills against the NBBO over its life, the venue
                                       mix, and its shortfall against the best single venue
    aggregate_png(reports)             many orders: venue mix by notional, shortfall per order

Inputs: `report` is a TCA report row (`GET /v1/tca`, `/v1/execution/review/{id}`); `fills` are
fill rows ({ts_ns, price_1e9, qty_1e8, venue}); `quotes` are NBBO points ({ts_ns, bid_1e9,
ask_1e9}: `GET /v1/price_history/{symbol}?source=nbbo`). Drawn with matplotlib's Agg canvas
directly (no pyplot, no global state); the image is exactly `size_px`. Floats are for drawing
only.

Shortfall (bps of the arrival mid, worse for us positive): routed = the report's
implementation shortfall (fees included); best single venue = its unit cost
(`single_venue_vwap_1e9`: price and taker fee, the cost model of the actual fills) against the
same mid. The order chart also prints the report's own `savings_vs_single_venue_bps`
(`savings_caption`) and stores that caption as the PNG's Description, so the file says which
figure it shows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Row = Mapping[str, Any]
DPI = 100
SIZE_PX = (1200, 800)
_PX, _QTY, _USD = 1e9, 1e8, 1e9


def single_venue_shortfall_bps(report: Row) -> float | None:
    """The best single venue's all-in shortfall against the arrival mid (None without one)."""
    single, mid = report.get("single_venue_vwap_1e9"), report["arrival_mid_px_1e9"]
    if single is None or not mid:
        return None
    diff = single - mid if report["side"] == "buy" else mid - single
    return diff * 10_000 / mid


def savings_caption(report: Row) -> str | None:
    """The report's savings figure as the order chart prints it (None without a counterfactual)."""
    bps = report.get("savings_vs_single_venue_bps")
    if bps is None:
        return None
    return f"savings vs best single venue ({report['best_single_venue']}): {bps:+.2f} bps"


def venue_colours(venues: Sequence[str]) -> dict[str, Any]:
    """One colour per venue, stable for a given set of venues (sorted, tab10 then tab20)."""
    names = sorted(set(venues))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _figure(size_px: tuple[int, int]) -> Figure:
    fig = Figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure, description: str | None = None) -> bytes:
    buf = io.BytesIO()
    metadata = {"Description": description} if description else None
    fig.savefig(buf, format="png", dpi=DPI, metadata=metadata)  # no bbox_inches="tight": the size stays exact
    return buf.getvalue()


def _fills_vs_nbbo(ax: Axes, report: Row, fills: Sequence[Row], quotes: Sequence[Row], colours: dict[str, Any]) -> None:
    first_fill = min((f["ts_ns"] for f in fills), default=0)
    t0 = report.get("interval_start_ns") or first_fill
    seconds = lambda ts: (ts - t0) / 1e9  # noqa: E731
    if quotes:
        qs = sorted(quotes, key=lambda q: q["ts_ns"])
        xs = [seconds(q["ts_ns"]) for q in qs]
        ax.step(xs, [q["bid_1e9"] / _PX for q in qs], where="post", color="tab:green", lw=1, label="NBBO bid")
        ax.step(xs, [q["ask_1e9"] / _PX for q in qs], where="post", color="tab:red", lw=1, label="NBBO ask")
    biggest = max((f["qty_1e8"] for f in fills), default=1) or 1
    for venue in sorted({f["venue"] for f in fills}):
        vf = [f for f in fills if f["venue"] == venue]
        ax.scatter(
            [seconds(f["ts_ns"]) for f in vf],
            [f["price_1e9"] / _PX for f in vf],
            s=[20 + 280 * f["qty_1e8"] / biggest for f in vf],  # marker area grows with the fill's size
            color=colours[venue], edgecolors="black", linewidths=0.5, alpha=0.85, label=f"fills {venue}", zorder=3,
        )
    ax.axhline(report["arrival_mid_px_1e9"] / _PX, color="grey", ls="--", lw=1, label="arrival mid")
    if report.get("interval_twap_1e9"):
        ax.axhline(report["interval_twap_1e9"] / _PX, color="tab:purple", ls=":", lw=1, label="interval TWAP")
    ax.set_xlabel("seconds since accept" if report.get("interval_start_ns") else "seconds since the first fill")
    ax.set_ylabel("price (USD)")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def _venue_mix(ax: Axes, mix: Mapping[str, float], colours: dict[str, Any], unit: str) -> None:
    venues = sorted(mix)
    ax.bar(venues, [mix[v] for v in venues], color=[colours[v] for v in venues])
    ax.set_title("venue mix")
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def order_png(
    report: Row, fills: Sequence[Row], quotes: Sequence[Row], *, size_px: tuple[int, int] = SIZE_PX
) -> bytes:
    """One order's chart (see the module doc) as PNG bytes of exactly `size_px`."""
    colours = venue_colours([f["venue"] for f in fills] + [v["venue"] for v in report["venue_mix"]])
    fig = _figure(size_px)
    grid = fig.add_gridspec(2, 2, height_ratios=(3, 2))
    top = fig.add_subplot(grid[0, :])
    _fills_vs_nbbo(top, report, fills, quotes, colours)
    top.set_title(
        f"{report['graph_id']}  {report['side']} {report['filled_qty_1e8'] / _QTY:g} {report['symbol']}"
        f"  VWAP {report['achieved_vwap_1e9'] / _PX:,.2f}  ({len(fills)} fills)"
    )
    _venue_mix(fig.add_subplot(grid[1, 0]), {v["venue"]: v["qty_1e8"] / _QTY for v in report["venue_mix"]}, colours,
               "filled qty")
    ax = fig.add_subplot(grid[1, 1])
    labels, values = ["routed"], [report["implementation_shortfall_bps"]]
    single = single_venue_shortfall_bps(report)
    if single is not None:
        labels.append(f"best single venue\n({report['best_single_venue']})")
        values.append(single)
    ax.bar(labels, values, color=["0.3", "0.65"][: len(values)])  # greys: venue colours mean venues
    for i, v in enumerate(values):
        ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom" if v >= 0 else "top", fontsize=9)
    ax.axhline(0, color="black", lw=0.8)
    caption = savings_caption(report)
    ax.set_title("shortfall vs arrival mid (bps, worse > 0)" + (f"\n{caption}" if caption else ""), fontsize=10)
    fig.tight_layout()  # rearranges within the figure; the pixel size does not change
    return _png(fig, caption)


def aggregate_png(reports: Sequence[Row], *, title: str = "TCA", size_px: tuple[int, int] = SIZE_PX) -> bytes:
    """Many orders (oldest first): venue mix by notional, and each order's shortfall against its
    best single venue, as PNG bytes of exactly `size_px`."""
    mix: dict[str, float] = {}
    for r in reports:
        for v in r["venue_mix"]:
            mix[v["venue"]] = mix.get(v["venue"], 0.0) + v["notional_usd_1e9"] / _USD
    colours = venue_colours(list(mix))
    fig = _figure(size_px)
    grid = fig.add_gridspec(2, 1)
    _venue_mix(fig.add_subplot(grid[0, 0]), mix, colours, "notional (USD)")
    ax = fig.add_subplot(grid[1, 0])
    xs = list(range(len(reports)))
    routed = [r["implementation_shortfall_bps"] for r in reports]
    single = [single_venue_shortfall_bps(r) for r in reports]
    ax.bar([x - 0.2 for x in xs], routed, width=0.4, color="0.3", label="routed")
    ax.bar([x + 0.2 for x, s in zip(xs, single) if s is not None], [s for s in single if s is not None], width=0.4,
           color="0.65", label="best single venue")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(xs, [f"{r['symbol']}\n{r['graph_id'][-8:]}" for r in reports], fontsize=7)
    ax.set_ylabel("shortfall (bps, worse > 0)")
    ax.set_title(f"{title}: {len(reports)} orders")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def write_png(path: str | Path, png: bytes) -> Path:
    target = Path(path)
    target.write_bytes(png)
    return target
