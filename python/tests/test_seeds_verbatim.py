"""The seeds' own Python, as the seeds print it, against one vault shared by two processes.

Each ``SEED_*`` text below is copied from the seed documents unedited, except the lines marked
``# changed:`` (an import or a constructor). Names the seed uses without defining (``logger``,
the exchange's balance ``从交易所获取的资产``, seed 000's ``SHARED_DIR`` and its vault's
``get_used_total``) are defined around it, as the seed's program would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import capvault
from capvault import hft

from conftest import service_name

# Seed 004, "系统启动" and "资产买卖".
SEED_004_START = """
from capvault import StrategyBalanceManager  # changed: from hftpy.common import StrategyBalanceManager
from capvault import hft  # changed: import hft

# 创建管理器（Kraken交易所，8个策略槽位）
manager = StrategyBalanceManager(hft.Exchange.KRAKEN, strategy_count=8, serve=SERVICE)  # changed: serve=

# 获取账户余额（从交易所API）
usdc_balance = 10000.0
usd_balance = 5000.0

# 初始化各币种资产
manager.reset(hft.Currency.USDC, usdc_balance)
manager.reset(hft.Currency.USD, usd_balance)

# 买入：买入usdc/usd
manager.adjust(hft.Currency.USD, -1000.0)   # USD 减少
manager.adjust(hft.Currency.USDC, 1000.0)   # USDC 增加

# 卖出：卖出usdc/usd
manager.adjust(hft.Currency.USDC, -500.0)   # USDC 减少
manager.adjust(hft.Currency.USD, 500.0)     # USD 增加
"""

# Seed 004, "子策略申请或者归还资金", "转账成功" and "错误恢复", in a second process.
SEED_004_STRATEGIES = """
from capvault import StrategyBalanceManager  # changed: from hftpy.common import StrategyBalanceManager
from capvault import hft  # changed: import hft
manager = StrategyBalanceManager(hft.Exchange.KRAKEN, strategy_count=8, connect=SERVICE)  # changed: connect=

# 策略A（index=2）申请 2000 USDC
manager.allocate(hft.Currency.USDC, index=2, amount=2000.0)

# 策略B（index=3）申请 3000 USDC
manager.allocate(hft.Currency.USDC, index=3, amount=3000.0)

# 策略A 归还 500 USDC
manager.release(hft.Currency.USDC, index=2, amount=500.0)

# 查询各策略资金
total = manager.get_balance(hft.Currency.USDC, index=0)      # 总资金
available = manager.get_balance(hft.Currency.USDC, index=1)  # 主策略（可用）
strategy_a = manager.get_balance(hft.Currency.USDC, index=2) # 策略A
strategy_b = manager.get_balance(hft.Currency.USDC, index=3) # 策略B

# 转入 1000 USDC（从其他交易所转入）
manager.adjust(hft.Currency.USDC, 1000.0)

# 转出 500 USDC（转到其他交易所）
manager.adjust(hft.Currency.USDC, -500.0)
"""

SEED_004_RECOVERY = """
# 从交易所获取真实余额
real_balance = 从交易所获取的资产

# 修正总资产（set会自动refresh，重算主策略）
manager.set(hft.Currency.USDC, real_balance)

# 检查主策略是否为负（考虑借贷额度）
available = manager.get_balance(hft.Currency.USDC, index=1)
credit_limit = 5000.0  # 借贷额度

if available + credit_limit < 0:
    # 资金错误无法修复，需要重置
    logger.error(f"资金错误无法修复，主策略余额为负且超过借贷额度: {available}, 借贷额度: {credit_limit}")
    manager.reset(hft.Currency.USDC, real_balance)
    # 子策略需要重新申请资金...
"""

# Seed 004's first section: a balance written and read through the quote table.
SEED_004_QUOTES = """
from capvault import hft  # changed: import hft
from capvault.hft import *  # changed: the seed's bare names
import time

write_single_quote_currency = hft.writeSingleQuoteCurrency

def write_balance(exchange: Exchange, currency: Currency, balance: float, local_timestamp: int = None) -> None:
    if local_timestamp is None:
        local_timestamp = int(time.time() * 1_000_000)
    write_single_quote_currency(
        exchange,
        DataType.BALANCE,
        currency,
        SingleQuote(timestamp=local_timestamp,
                    localTimestamp=local_timestamp,
                    mid=balance)
    )

# 写入USDT余额
write_balance(Exchange.KRAKEN, Currency.USDT, 10000.0)
"""

SEED_004_QUOTES_READ = """
from capvault import hft  # changed: import hft
from capvault.hft import *  # changed: the seed's bare names

get_single_quote_currency = hft.getSingleQuoteCurrency

def get_balance(exchange: Exchange, currency: Currency) -> SingleQuote:
    return get_single_quote_currency(
        exchange,
        DataType.BALANCE,
        currency,
    )

# 获取并输出USDT余额
usdt_balance = get_balance(Exchange.KRAKEN, Currency.USDT)
print(f"USDT Balance: {usdt_balance.mid}")
"""

# Seed 000, section 6.2, with the vault's totals (section 3.3's executor side).
SEED_000_6_2 = """
# 读取 shared_pool.json
SHARED_POOL_PATH = os.path.join(SHARED_DIR, 'shared_pool.json')
PHYSICAL_POOL = 300_000
MIN_RESERVE_RATIO = 0.15   # 剩余 15% 禁止新开 Layer 0

def can_open_new_layer(symbol, amount):
    # 占用 = 已成交(used) + 冻结中(frozen)，避免挂单期间被另一标的打满
    committed = get_used_total() + get_frozen_total()
    if committed + amount > PHYSICAL_POOL * (1 - MIN_RESERVE_RATIO):
        return False
    return True
"""


def run_child(script: str, env: dict) -> str:
    """Runs `script` in a new Python process; returns its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_seed_004_session_and_recovery_in_two_processes():
    service = service_name()
    scope = {"SERVICE": service}
    exec(SEED_004_START, scope)  # noqa: S102 - the seed's own code is the test
    manager = scope["manager"]
    try:
        child = textwrap.dedent(
            """
            import json, logging
            logger = logging.getLogger("seed004")
            SERVICE = {service!r}
            {strategies}
            seen = {{"total": str(total), "available": str(available), "a": str(strategy_a), "b": str(strategy_b)}}
            从交易所获取的资产 = 9000.0
            {recovery}
            seen["after_recovery"] = str(manager.get_balance(hft.Currency.USDC, index=1))
            从交易所获取的资产 = -600.0
            {recovery}
            seen["after_reset"] = [str(x) for x in manager.get(hft.Currency.USDC).strategies[:4]]
            print(json.dumps(seen))
            """
        ).format(service=service, strategies=SEED_004_STRATEGIES, recovery=SEED_004_RECOVERY)
        seen = json.loads(run_child(child, {}).strip().splitlines()[-1])
        # After allocate 2000/3000 and a release of 500: total 10,500, pool 6,000.
        assert (seen["total"], seen["available"], seen["a"], seen["b"]) == ("10500", "6000", "1500", "3000")
        # Set to 9,000 with 1,500 + 3,000 held: the pool absorbs it (4,500); 4,500 + 5,000 >= 0.
        assert Decimal(seen["after_recovery"]) == Decimal("4500")
        # Set to -600: pool -5,100, below minus the credit limit, so the recipe resets.
        assert [Decimal(x) for x in seen["after_reset"]] == [Decimal("-600"), Decimal("-600"), 0, 0]
        # The first process sees the second's changes, with the identity intact.
        usd = manager.get(hft.Currency.USD)
        assert usd.total == 4500.0 and usd.pool == 4500.0
        usdc = manager.get(hft.Currency.USDC)
        assert usdc.total == usdc.pool + sum(usdc.strategies[2:]) == -600
    finally:
        manager.vault.close()


def test_money_mixes_with_float_the_way_the_seeds_use_it():
    manager = capvault.StrategyBalanceManager(hft.Exchange.KRAKEN, strategy_count=4)
    manager.reset(hft.Currency.USDT, "100.125")
    available = manager.get_balance(hft.Currency.USDT, index=1)
    assert isinstance(available, Decimal) and available == Decimal("100.125"), "exact, as the book holds it"
    assert available + 5000.0 == Decimal("5100.125")
    assert available * 0.1 == Decimal("10.0125"), "a float operation rounds half to even to the minor unit"
    assert 0.1 + available - available == 0.1, "a float is read as what was typed"
    assert available > 100.12 and available < 100.13
    # What a computation gives can go back into the vault as it is.
    manager.allocate(hft.Currency.USDT, 2, available * 0.5)
    assert manager.get_balance(hft.Currency.USDT, 2) == Decimal("50.0625")
    manager.vault.close()


def test_seed_004_quotes_across_processes(tmp_path, monkeypatch):
    env = {"CAPVAULT_QUOTES": str(tmp_path / "quotes")}
    monkeypatch.setenv("CAPVAULT_QUOTES", env["CAPVAULT_QUOTES"])
    writer = textwrap.dedent(
        """
        {write}
        import sys
        sys.stdout.write("written\\n"); sys.stdout.flush()
        sys.stdin.readline()
        """
    ).format(write=SEED_004_QUOTES)
    process = subprocess.Popen(
        [sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, **env}
    )
    try:
        assert process.stdout.readline().strip() == "written"
        # A second writer while the first lives is refused, not mixed in.
        refused = subprocess.run([sys.executable, "-c", SEED_004_QUOTES], capture_output=True, text=True, env={**os.environ, **env})
        assert refused.returncode != 0 and "MirrorError" in refused.stderr
        assert run_child(SEED_004_QUOTES_READ, env).strip() == "USDT Balance: 10000.0"
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    # The table outlives its writer; this process reads it too, and an unwritten key is None.
    quote = hft.getSingleQuoteCurrency(hft.Exchange.KRAKEN, hft.DataType.BALANCE, hft.Currency.USDT)
    assert quote.mid == 10000.0 and quote.timestamp == quote.localTimestamp > 0
    assert hft.getSingleQuoteCurrency("KRAKEN", "BALANCE", "BTC") is None


def test_seed_000_sections_3_3_and_6_2_in_two_processes(tmp_path):
    service = service_name()
    vault = capvault.GlobalVault(serve=service, json=str(tmp_path / "shared_pool.json"))
    try:
        # The executor process (section 3.3): reserve on send, fill, cancel, release.
        assert vault.request_allocation("159201.SZ", 120_000.0, 0, "1790000000000000001")
        vault.on_fill("159201.SZ", "1790000000000000001")
        assert vault.request_allocation("159201.SZ", 30_000.0, 1, "1790000000000000002")
        vault.on_fill("159201.SZ", "1790000000000000002", 10_000.0)  # a partial fill report
        # Another process sees these once the shared-memory mirror has them (it lags the vault by
        # up to its write gap): wait for that, as the seed's executor would before telling the
        # nodes to look.
        capvault.ShmReader(capvault.shm_path(f"capvault-{service}.shm")).wait_for(vault.vault._seq)
        child = textwrap.dedent(
            """
            import json, os
            import capvault
            vault = capvault.GlobalVault(connect={service!r})  # changed: the constructor
            SHARED_DIR = {shared_dir!r}
            get_used_total = vault.get_used_total
            get_frozen_total = vault.get_frozen_total
            {section}
            answers = [can_open_new_layer("512890.SH", 100_000.0), can_open_new_layer("512890.SH", 105_000.01)]
            decision = vault.request_allocation("512890.SH", 80_000.0, 0, "1790000000000000003")
            print(json.dumps({{"answers": answers, "approved": bool(decision),
                              "used": str(get_used_total()), "frozen": str(get_frozen_total())}}))
            """
        ).format(service=service, shared_dir=str(tmp_path), section=SEED_000_6_2)
        seen = json.loads(run_child(child, {}).strip().splitlines()[-1])
        # 130,000 used + 20,000 frozen: a new first layer of 100,000 fits under 255,000
        # (300,000 x 0.85), one of 105,000.01 does not: the float limit and the exact totals meet.
        assert seen["answers"] == [True, False]
        assert seen["approved"] and (Decimal(seen["used"]), Decimal(seen["frozen"])) == (130_000, 100_000)
        assert vault.get_frozen_map() == {"159201": 20_000, "512890": 80_000}
        assert vault.get_used_total() + vault.get_frozen_total() == 230_000.0
        vault.on_cancel("159201.SZ", "1790000000000000002")
        assert vault.release("159201.SZ", "1790000000000000001").returned == 120_000
        assert vault.get_used_map() == {"159201": 10_000, "512890": 0}
    finally:
        vault.vault.close()
