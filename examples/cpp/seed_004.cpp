// Seed 004's session in C++: virtual sub-accounts on one Kraken account (系统启动, 资产买卖,
// 子策略申请或者归还资金, 转账成功, 错误恢复), and its first section's shared-memory balance
// (`ShareMemorySingleQuote::write` / `get`), as the seed's C++ and Python print them.
//
// Build and run (README, "C and C++"):
//   cargo build --release -p capvault-capi
//   g++ -std=c++17 -Wall -Wextra -Werror -Iinclude examples/cpp/seed_004.cpp
//       -Ltarget/release -lcapvault -Wl,-rpath,$PWD/target/release -o target/seed_004_cpp
//   target/seed_004_cpp
#include <cstdio>
#include <ctime>
#include <iostream>

#include "capvault.hpp"

using capvault::Currency;
using capvault::DataType;
using capvault::Exchange;
using capvault::SingleQuote;
using capvault::ShareMemorySingleQuote;

static int64_t getCurrentTimestamp() { return static_cast<int64_t>(std::time(nullptr)) * 1000000; }

int main() {
    // 资产: one strategy per account, the balance in shared memory.
    Exchange exchange = Exchange::KRAKEN;
    DataType dataType = DataType::BALANCE;
    Currency currency = Currency::USDT;
    int64_t now = getCurrentTimestamp();
    SingleQuote usdtBalance{now, now, 10000.0};  // 余额为10000 USDT
    ShareMemorySingleQuote::write(exchange, dataType, currency, usdtBalance);  // 更新共享内存
    auto read = ShareMemorySingleQuote::get(exchange, dataType, currency);
    std::cout << "USDT Balance: " << read->mid << std::endl;

    // 策略资产: a manager for Kraken with 8 slots; credit limits from the configuration.
    capvault::StrategyBalanceManager manager(Exchange::KRAKEN, 8, R"({"credit_limits": {"USDC": 5000}})");
    double usdc_balance = 10000.0;
    double usd_balance = 5000.0;
    manager.reset(Currency::USDC, usdc_balance);
    manager.reset(Currency::USD, usd_balance);

    // 资产买卖
    manager.adjust(Currency::USD, -1000.0);
    manager.adjust(Currency::USDC, 1000.0);
    manager.adjust(Currency::USDC, -500.0);
    manager.adjust(Currency::USD, 500.0);

    // 子策略申请或者归还资金
    manager.allocate(Currency::USDC, 2, 2000.0);
    manager.allocate(Currency::USDC, 3, 3000.0);
    manager.release(Currency::USDC, 2, 500.0);
    double total = manager.get_balance(Currency::USDC, 0);
    double available = manager.get_balance(Currency::USDC, 1);
    double strategy_a = manager.get_balance(Currency::USDC, 2);
    double strategy_b = manager.get_balance(Currency::USDC, 3);
    std::printf("USDC total %.2f, pool %.2f, A %.2f, B %.2f\n", total, available, strategy_a, strategy_b);

    // 转账成功
    manager.adjust(Currency::USDC, 1000.0);
    manager.adjust(Currency::USDC, -500.0);

    // 错误恢复: the exchange reports 1,000; the strategies keep theirs, the pool absorbs it.
    double real_balance = 1000.0;
    manager.set(Currency::USDC, real_balance);
    available = manager.get_balance(Currency::USDC, 1);
    double credit_limit = manager.credit_limit(Currency::USDC);  // 借贷额度, from the configuration
    if (available + credit_limit < 0) {
        std::printf("资金错误无法修复: pool %.2f, credit limit %.2f\n", available, credit_limit);
        manager.reset(Currency::USDC, real_balance);
    }
    capvault::StrategyBalance usdc = manager.get(Currency::USDC);
    std::printf("after recovery: total %.2f = pool %.2f + A %.2f + B %.2f (credit limit %.2f)\n",
                usdc.strategies[0], usdc.strategies[1], usdc.strategies[2], usdc.strategies[3], usdc.creditLimit);
    // The identity holds exactly in the ledger: check it there, not in doubles.
    capvault::Vault& vault = manager.vault();
    uint16_t book = *vault.find_book("KRAKEN", "USDC");
    cv_amount sum = vault.balance(book, 1);
    for (int slot = 2; slot < 8; ++slot) sum += vault.balance(book, static_cast<uint8_t>(slot));
    if (sum != vault.balance(book, 0)) {
        std::fprintf(stderr, "the identity broke\n");
        return 1;
    }
    std::printf("total == pool + sum(strategies), exactly: %s\n", capvault::to_string(sum).c_str());
    return 0;
}
