"""A freqtrade strategy for the adapter's test: enters on every candle, holds every trade to the
end of the backtest, each entry reserved in capvault first."""

from capvault.adapters.freqtrade import CapvaultStrategyMixin
from freqtrade.strategy import IStrategy


class GuardedHold(CapvaultStrategyMixin, IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 100}
    stoploss = -0.99
    can_short = False
    capvault_book = "USDT"

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe
