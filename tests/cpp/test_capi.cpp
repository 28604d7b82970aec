// The C++ API over the C ABI: every command with its exact figures and rejection codes, seed
// 004's manager session and its 错误恢复 recipe, the quote table, the amount rule, and the
// errors that cross the boundary. Run by `.ci/cpp.sh` (doctest from Debian's doctest-dev).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <string>

#include "capvault.hpp"

using namespace capvault;

static const char* SEED_000 = R"({
  "credit_limits": {"USDT": 500},
  "books": [
    {"venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "reserve_ratio": 0.15,
     "strategies": [{"slot": 2, "label": "159201", "cap": 200000, "loss_limit": 15000},
                    {"slot": 3, "label": "512890", "cap": 200000, "loss_limit": 15000}]},
    {"venue": "KRAKEN", "currency": "USDT", "slot_count": 4, "balance": 10000, "decimals": 8}
  ]
})";

TEST_CASE("amounts cross exactly, doubles by the documented rule") {
    CHECK(amount("9915.80") == 991580000000);
    CHECK(amount(1.153 * 8600, 2) == amount("9915.8"));  // 9915.799999... rounds half to even at 2
    CHECK(amount(0.125, 2) == amount("0.12"));            // a tie goes to the even cent
    CHECK(to_string(amount("-0.5")) == "-0.5");
    CHECK(units(300000) == 300000 * CV_AMOUNT_SCALE);
    CHECK_THROWS_AS(amount("1.000000001"), Error);        // finer than 10^-8
    cv_amount out = 0;
    CHECK(cv_amount_from_double(0.0 / 0.0, 2, &out) == CV_INVALID);
    CHECK(order_id("sig-20260216-0005") == order_id("sig-20260216-0005"));
    CHECK(order_id("1790000000000000001") == "1790000000000000001");
}

TEST_CASE("every command through the C++ API, with its figures and rejection codes") {
    Vault vault = Vault::open(SEED_000);
    auto [book, slot] = *vault.slot_of("159201.SZ");
    CHECK(book == 0);
    CHECK(slot == 2);

    Outcome reserved = vault.reserve("sig-a", book, slot, Side::Buy, 0, units(120000));
    CHECK(reserved.kind == "reserved");
    CHECK(reserved.seq == 1);
    Outcome again = vault.reserve("sig-a", book, slot, Side::Buy, 0, units(120000));
    CHECK(again.kind == "already_reserved");
    CHECK(again.text("state") == "pending");

    Outcome filled = vault.fill("sig-a", units(50000));
    CHECK(filled.kind == "filled");
    CHECK(filled.value("remaining") == units(70000));
    CHECK(filled.text("state") == "partially_filled");
    Outcome cumulative = vault.fill_to("sig-a", units(60000));
    CHECK(cumulative.value("remaining") == units(60000));
    Outcome repeat = vault.fill_to("sig-a", units(60000));
    CHECK(repeat.kind == "fill_already_applied");
    CHECK(repeat.value("filled") == units(60000));
    Outcome cancelled = vault.cancel("sig-a");
    CHECK(cancelled.kind == "cancelled");
    CHECK(cancelled.value("returned") == units(60000));
    CHECK(cancelled.value("held") == units(60000));
    Outcome released = vault.release_order("sig-a");
    CHECK(released.value("returned") == units(60000));
    CHECK(vault.balance(book, 1) == units(300000));

    vault.reserve("sig-b", book, 3, Side::Buy, 1, units(1000));
    CHECK(vault.expire("sig-b").kind == "cancelled");
    try {
        vault.fill("sig-b", units(1));
        FAIL("a fill after an expiry is refused");
    } catch (const Rejected& r) {
        CHECK(r.code() == "order_expired");
    }

    CHECK(vault.allocate(book, 3, units(500)).value("balance") == units(500));
    CHECK(vault.release(book, 3, units(200)).value("balance") == units(300));
    CHECK(vault.adjust(book, 0, units(-100)).kind == "adjusted");
    CHECK(vault.set(book, 0, units(300000)).value("drift") == units(100));
    CHECK(vault.record_alpha(book, 2, amount("12.5")).value("acc_alpha") == amount("12.5"));
    CHECK(vault.mark_loss(book, 2, units(10)).kind == "loss_marked");
    CHECK(vault.set_credit_limit("USDT", units(50)).kind == "credit_limit_set");
    CHECK(vault.trade(book, units(-700), 1, units(100)).kind == "traded");
    CHECK(vault.reset(1, units(10)).kind == "reset");
    CHECK(vault.submit_json(R"({"op":"allocate","book":0,"slot":2,"amount":"1.5"})").value("balance") ==
          amount("1.5"));
    Outcome opened = vault.open_book("KRAKEN", "USDC", 8, 8);
    CHECK(opened.kind == "book_opened");
    CHECK(*vault.find_book("KRAKEN", "USDC") == 2);

    // A refusal: its code and figures, and nothing changed.
    cv_amount pool = vault.balance(book, 1);
    try {
        vault.reserve("sig-c", book, 2, Side::Buy, 0, units(260000));
        FAIL("over the cap");
    } catch (const Rejected& r) {
        CHECK(r.status() == CV_REJECTED);
        CHECK(r.code() == "exceeds_nominal_cap");
        CHECK(r.amount("amount") == units(260000));
    }
    CHECK(vault.balance(book, 1) == pool);
    CHECK_THROWS_AS(vault.release(book, 3, units(1000000)), Rejected);
    try {
        vault.submit_json("{not json");
        FAIL("malformed");
    } catch (const Error& e) {
        CHECK(e.status() == CV_INVALID);
    }

    cv_book info = vault.book(book);
    CHECK(std::string(info.venue) == "SSE");
    CHECK(info.total == vault.balance(book, 0));
    CHECK(info.sound);
    cv_strategy s = vault.strategy(book, 2);
    CHECK(std::string(s.label) == "159201");
    CHECK(s.cap == units(200000));
    CHECK_FALSE(vault.order("no-such-order").has_value());
}

TEST_CASE("a securities account reconciles on cash plus the positions' cost") {
    Vault vault = Vault::open(SEED_000);
    vault.reserve("sig-buy", 0, 2, Side::Buy, 0, amount("69180"));
    vault.fill_to("sig-buy", amount("69180"));
    // The broker: cash after the buy plus a 100 dividend; the position cost what the vault holds.
    cv_amount cash = amount("230920");
    Outcome held = vault.reconcile_securities(0, cash, {{"159201.SZ", amount("69000")}});
    CHECK(held.kind == "held");
    CHECK(held.value("mismatches") == 1);
    CHECK(vault.balance(0, 0) == units(300000));
    Outcome set = vault.reconcile_securities(0, cash, {{"159201.SZ", amount("69180")}});
    CHECK(set.kind == "set");
    CHECK(set.value("drift") == units(100));
    CHECK(vault.balance(0, 0) == units(300100));
}

TEST_CASE("seed 004's session and its recovery recipe, through StrategyBalanceManager") {
    StrategyBalanceManager manager(Exchange::KRAKEN, 8, R"({"credit_limits": {"USDC": 5000}})");
    manager.reset(Currency::USDC, 10000.0);
    manager.reset(Currency::USD, 5000.0);
    manager.adjust(Currency::USD, -1000.0);
    manager.adjust(Currency::USDC, 1000.0);
    manager.adjust(Currency::USDC, -500.0);
    manager.adjust(Currency::USD, 500.0);
    manager.allocate(Currency::USDC, 2, 2000.0);
    manager.allocate(Currency::USDC, 3, 3000.0);
    manager.release(Currency::USDC, 2, 500.0);
    CHECK(manager.get_balance(Currency::USDC, 0) == 10500.0);
    CHECK(manager.get_balance(Currency::USDC, 1) == 6000.0);
    CHECK(manager.get_balance(Currency::USDC, 2) == 1500.0);
    CHECK(manager.get_balance(Currency::USDC, 3) == 3000.0);
    CHECK(manager.get_balance(Currency::USD) == 4500.0);
    CHECK(manager.credit_limit(Currency::USDC) == 5000.0);

    // Within the credit limit: repaired, no reset.
    manager.set(Currency::USDC, 1000.0);
    double available = manager.get_balance(Currency::USDC, 1);
    CHECK(available == -3500.0);
    CHECK(available + manager.credit_limit(Currency::USDC) >= 0);
    // Beyond it: the recipe resets, and the strategies start again at zero.
    double real_balance = -600.0;
    manager.set(Currency::USDC, real_balance);
    available = manager.get_balance(Currency::USDC, 1);
    if (available + manager.credit_limit(Currency::USDC) < 0) manager.reset(Currency::USDC, real_balance);
    StrategyBalance usdc = manager.get(Currency::USDC);
    CHECK(usdc.strategies[0] == -600.0);
    CHECK(usdc.strategies[1] == -600.0);
    CHECK(usdc.strategies[2] == 0.0);
    CHECK(usdc.strategyCount == 8);
    // A refused allocation raises with the ledger's code and changes nothing.
    CHECK_THROWS_AS(manager.allocate(Currency::USDC, 2, 10000.0), Rejected);
    CHECK(manager.get_balance(Currency::USDC, 2) == 0.0);
    CHECK_THROWS_AS(manager.get_balance(Currency::EUR), Error);
}

TEST_CASE("seed 004's quote table: a writer and a reader") {
    std::string path = "/tmp/capvault-cpp-quotes-" + std::to_string(getpid());
    {
        QuoteTable writer = QuoteTable::create(path, 64);
        writer.write("KRAKEN", DataType::BALANCE, "USDT", SingleQuote{1, 2, 10000.0});
        QuoteTable reader = QuoteTable::open(path);
        auto quote = reader.get("KRAKEN", DataType::BALANCE, "USDT");
        REQUIRE(quote.has_value());
        CHECK(quote->mid == 10000.0);
        CHECK(quote->localTimestamp == 2);
        CHECK_FALSE(reader.get("KRAKEN", DataType::BALANCE, "BTC").has_value());
        CHECK_THROWS_AS(QuoteTable::create(path, 64), Error);  // one writer per table
    }
    unlink(path.c_str());
    std::string lock = path + ".lock";
    unlink(lock.c_str());
}

TEST_CASE("the C boundary: NULLs and bad values are errors, not crashes") {
    cv_result r;
    CHECK(cv_reserve(nullptr, "x", 0, 2, CV_BUY, 0, 1, &r) == CV_INVALID);
    CHECK(std::string(r.kind) == "invalid_input");
    cv_vault* v = nullptr;
    CHECK(cv_open(nullptr, nullptr, &v, &r) == CV_INVALID);
    CHECK(cv_open("{\"books\": [", nullptr, &v, &r) == CV_IO);
    CHECK(cv_connect("capvault-no-such-service", "cpp", &v, &r) == CV_NOT_FOUND);
    Vault vault = Vault::open(SEED_000);
    CHECK(cv_reserve(vault.get(), "x", 0, 2, 7, 0, 1, &r) == CV_INVALID);  // side 7
    CHECK(cv_reserve(vault.get(), nullptr, 0, 2, CV_BUY, 0, 1, &r) == CV_INVALID);
    CHECK(cv_balance(vault.get(), 9, 0, nullptr) == CV_INVALID);
    cv_amount a = 0;
    CHECK(cv_balance(vault.get(), 9, 0, &a) == CV_NOT_FOUND);
    CHECK(cv_close(nullptr) == CV_OK);
}
