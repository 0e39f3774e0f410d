"""Reference data: what each venue trades and on what terms (assets, tick, lot, fees).

Fed per venue: the simulated market is one source (`simulated.py`), a live venue's exchange
info another. Risk, the router and the views read instruments and fees here, never from the
sandbox package."""

from services.refdata.symbols import split_symbol

__all__ = ["split_symbol"]
