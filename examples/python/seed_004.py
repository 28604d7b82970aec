"""Seed 004's own example, run on capvault: virtual sub-accounts on one Kraken account.

The seed's code runs as written but for its imports (`capvault` for `hftpy.common`, and
`capvault.hft` for the seed's `hft`): amounts come back as `capvault.Money`, exact and usable
with the seed's floats (`available + 5000.0`); `recover` shows the same recipe in one call.

Run: python examples/python/seed_004.py   (after `pip install ./python`)
"""

from capvault import StrategyBalanceManager
from capvault import hft


# 系统启动: a manager for Kraken with 8 strategy slots; balances from the exchange's API.
manager = StrategyBalanceManager(hft.Exchange.KRAKEN, strategy_count=8, credit_limits={"USDC": 5000})
usdc_balance = 10000.0
usd_balance = 5000.0
manager.reset(hft.Currency.USDC, usdc_balance)
manager.reset(hft.Currency.USD, usd_balance)

# 资产买卖: a buy of USDC with USD, then a sell.
manager.adjust(hft.Currency.USD, -1000.0)
manager.adjust(hft.Currency.USDC, 1000.0)
manager.adjust(hft.Currency.USDC, -500.0)
manager.adjust(hft.Currency.USD, 500.0)

# 子策略申请或者归还资金
manager.allocate(hft.Currency.USDC, index=2, amount=2000.0)
manager.allocate(hft.Currency.USDC, index=3, amount=3000.0)
manager.release(hft.Currency.USDC, index=2, amount=500.0)
total = manager.get_balance(hft.Currency.USDC, index=0)
available = manager.get_balance(hft.Currency.USDC, index=1)
strategy_a = manager.get_balance(hft.Currency.USDC, index=2)
strategy_b = manager.get_balance(hft.Currency.USDC, index=3)
print(f"USDC total {total}, pool {available}, A {strategy_a}, B {strategy_b}")
assert total == available + strategy_a + strategy_b == 10500

# 转账成功: a transfer in and a transfer out.
manager.adjust(hft.Currency.USDC, 1000.0)
manager.adjust(hft.Currency.USDC, -500.0)

# 错误恢复: the exchange says 6,000 USDC; the strategies keep theirs, the pool absorbs it.
real_balance = 6000.0
manager.set(hft.Currency.USDC, real_balance)
available = manager.get_balance(hft.Currency.USDC, index=1)
credit_limit = 5000.0  # 借贷额度 (also manager.credit_limit(hft.Currency.USDC))
if available + credit_limit < 0:
    print(f"资金错误无法修复: pool {available}, credit limit {credit_limit}")
    manager.reset(hft.Currency.USDC, real_balance)
print(f"after recovery to {real_balance}: {manager.get(hft.Currency.USDC)}")

# The same recipe in one call, when the exchange reports far less: the pool goes to -3,500,
# within the 5,000 credit limit, so it is repaired without a reset.
recovery = manager.recover(hft.Currency.USDC, 1000.0)
print(f"recover to 1000: drift {recovery.drift}, pool {recovery.pool}, reset {recovery.reset}")
assert (recovery.pool, recovery.reset) == (-3500, False)
balance = manager.get(hft.Currency.USDC)
assert balance.total == balance.pool + sum(balance.strategies[2:])
print(f"USD {manager.get(hft.Currency.USD).strategies[:2]}, USDC {balance.strategies[:4]}")
manager.close()
