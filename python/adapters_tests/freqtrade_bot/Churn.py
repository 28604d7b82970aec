"""Strategies for benches/freqtrade_guard.py: a trade entered on every other candle of every pair and
exited on the next, with capvault's guard (ChurnGuarded) and without (ChurnPlain)."""

from capvault.adapters.freqtrade import CapvaultStrategyMixin
from freqtrade.strategy import IStrategy


class ChurnPlain(IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 100}
    stoploss = -0.99
    can_short = False
    capvault_book = "USDT"

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = (dataframe.index % 2 == 0).astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = (dataframe.index % 2 == 1).astype(int)
        return dataframe


class ChurnGuarded(CapvaultStrategyMixin, ChurnPlain):
    pass
