"""`backtest --plot`: the equity curve, and fills over the NBBO (matplotlib's Agg canvas, PNG).

Floats appear only here, to draw: the report and the log keep integers."""

from __future__ import annotations

from pathlib import Path

from replay.runs import Curves
from services.tca.plot import DPI, _figure, venue_colours


def plot_run(fold: Curves, path: Path, *, symbol: str) -> None:
    fig = _figure((1200, 800))
    equity_ax, fills_ax = fig.subplots(2, 1, sharex=True)
    t0 = fold.equity[0][0] if fold.equity else 0
    seconds = lambda ts: (ts - t0) / 1e9  # noqa: E731
    equity_ax.plot([seconds(t) for t, _ in fold.equity], [p / 1e9 for _, p in fold.equity], color="black", lw=1)
    equity_ax.set_ylabel("PnL (USD, marked at mid)")
    equity_ax.set_title("equity")
    if fold.nbbo_points:
        xs = [seconds(t) for t, _, _ in fold.nbbo_points]
        fills_ax.step(xs, [b / 1e9 if b else None for _, b, _ in fold.nbbo_points], where="post", color="tab:green",
                      lw=0.8, label="NBBO bid")
        fills_ax.step(xs, [a / 1e9 if a else None for _, _, a in fold.nbbo_points], where="post", color="tab:red",
                      lw=0.8, label="NBBO ask")
    colours = venue_colours([v for _, v, _, _, _ in fold.fill_points])
    for venue, colour in colours.items():
        for side, marker in (("buy", "^"), ("sell", "v")):
            pts = [(seconds(t), px / 1e9) for t, v, s, px, _ in fold.fill_points if v == venue and s == side]
            if pts:
                fills_ax.scatter([x for x, _ in pts], [y for _, y in pts], marker=marker, color=colour, s=24,
                                 label=f"{venue} {side}")
    fills_ax.set_title(f"fills over the NBBO {symbol}")
    fills_ax.set_xlabel("seconds from the data's start")
    fills_ax.legend(loc="best", fontsize=7)
    fig.savefig(str(path), format="png", dpi=DPI)
