// capvault's C++ API: a header-only C++17 wrapper over the C ABI (capvault.h), and seed 004's
// own API in C++ (`StrategyBalanceManager`, `ShareMemorySingleQuote`).
//
// Errors are exceptions: `capvault::Rejected` when the ledger refuses a command (its `code()` is
// the same snake_case code as in Rust and Python, its figures exact), `capvault::Error` for every
// other failure (its `status()` is the C status). A refused command changed nothing.
//
// Ownership: `Vault` and `QuoteTable` own their C handle (move-only, closed in the destructor).
// Thread safety: a `Vault`'s methods may be called from several threads at once; a
// `QuoteTable` writer from one thread at a time.
//
// Money: `cv_amount` is an exact count of 10^-8 units. Seed 004's API takes and returns `double`
// as the seed does; a double going in is rounded half to even at the book's minor unit (the
// documented rule, `cv_amount_from_double`), and one coming out is the nearest double.
#ifndef CAPVAULT_HPP
#define CAPVAULT_HPP

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "capvault.h"

namespace capvault {

/// A failure of a call: its C status, the error's or rejection's name, a sentence.
class Error : public std::runtime_error {
public:
    Error(cv_status status, std::string kind, const std::string& message)
        : std::runtime_error(kind + ": " + message), status_(status), kind_(std::move(kind)) {}
    cv_status status() const noexcept { return status_; }
    const std::string& kind() const noexcept { return kind_; }

private:
    cv_status status_;
    std::string kind_;
};

/// One figure of an outcome or a rejection.
struct Figure {
    cv_figure_kind kind;
    int64_t value;     ///< an amount (fixed point), a number or a flag
    std::string text;  ///< a text figure
};

/// The figures by name (`remaining`, `limit`, `field.amount.existing`, ...).
using Figures = std::map<std::string, Figure>;

inline Figures figures_of(const cv_result& r) {
    Figures out;
    for (uint32_t i = 0; i < r.figure_count && i < CV_FIGURES_MAX; ++i) {
        const cv_figure& f = r.figures[i];
        out[f.name] = Figure{f.kind, f.value, f.text};
    }
    return out;
}

/// The ledger refused a command; nothing changed.
class Rejected : public Error {
public:
    explicit Rejected(const cv_result& r)
        : Error(r.status, r.kind, r.message), figures_(figures_of(r)) {}
    /// The rejection's code, e.g. `exceeds_reserve_ratio`.
    const std::string& code() const noexcept { return kind(); }
    const Figures& figures() const noexcept { return figures_; }
    /// An amount figure (0 if absent).
    cv_amount amount(const std::string& name) const {
        auto it = figures_.find(name);
        return it == figures_.end() ? 0 : it->second.value;
    }

private:
    Figures figures_;
};

/// What an accepted command did.
struct Outcome {
    uint64_t seq = 0;
    std::string kind;  ///< `reserved`, `already_reserved`, `filled`, ...
    Figures figures;
    /// An amount or number figure (0 if absent).
    int64_t value(const std::string& name) const {
        auto it = figures.find(name);
        return it == figures.end() ? 0 : it->second.value;
    }
    /// A text figure ("" if absent).
    std::string text(const std::string& name) const {
        auto it = figures.find(name);
        return it == figures.end() ? std::string() : it->second.text;
    }
};

/// Throws for a failed call.
inline void check(cv_status status, const cv_result* r = nullptr) {
    if (status == CV_OK) return;
    if (r != nullptr && status == CV_REJECTED) throw Rejected(*r);
    if (r != nullptr) throw Error(status, r->kind, r->message);
    throw Error(status, "error", "capvault call failed with status " + std::to_string(static_cast<int>(status)));
}

/// An exact amount from decimal text ("9915.80").
inline cv_amount amount(const std::string& text) {
    cv_amount out = 0;
    check(cv_amount_parse(text.c_str(), &out));
    return out;
}

/// A double as an amount, rounded half to even at `decimals` places.
inline cv_amount amount(double value, unsigned decimals) {
    cv_amount out = 0;
    check(cv_amount_from_double(value, decimals, &out));
    return out;
}

/// Whole units as an amount.
inline cv_amount units(int64_t n) {
    cv_amount out = 0;
    check(cv_amount_from_units(n, &out));
    return out;
}

/// The nearest double (for display and the seed's double API).
inline double to_double(cv_amount a) { return cv_amount_to_double(a); }

/// The exact decimal text.
inline std::string to_string(cv_amount a) {
    char buffer[48];
    cv_amount_format(a, buffer, sizeof buffer);
    return buffer;
}

/// The order id a text names (`ClientOrderId::from_text`).
inline std::string order_id(const std::string& text) {
    char buffer[48];
    check(cv_order_id_from_text(text.c_str(), buffer, sizeof buffer));
    return buffer;
}

enum class Side { Buy = CV_BUY, Sell = CV_SELL };

/// How a client waits for its answers.
enum class Wait {
    SpinPark = CV_WAIT_SPIN_PARK,   ///< spin 50 µs, then sleep (the default)
    BusySpin = CV_WAIT_BUSY_SPIN,   ///< spin without end: lowest latency, a whole core
    SpinYield = CV_WAIT_SPIN_YIELD, ///< spin 50 µs, then yield between looks
    Blocking = CV_WAIT_BLOCKING,    ///< sleep at once
};

/// Where an embedded vault keeps its files (empty: not kept).
struct OpenOptions {
    std::string data_dir, shm, json, serve;
};

/// A vault: embedded in this process (`Vault::open`) or a client of a served one
/// (`Vault::connect`). Move-only; the destructor closes it.
class Vault {
public:
    /// Starts an embedded vault from a ledger configuration (JSON text or a file path).
    static Vault open(const std::string& config, const OpenOptions& options = {}) {
        cv_open_options o{};
        o.data_dir = options.data_dir.empty() ? nullptr : options.data_dir.c_str();
        o.shm = options.shm.empty() ? nullptr : options.shm.c_str();
        o.json = options.json.empty() ? nullptr : options.json.c_str();
        o.serve = options.serve.empty() ? nullptr : options.serve.c_str();
        cv_vault* v = nullptr;
        cv_result r;
        check(cv_open(config.c_str(), &o, &v, &r), &r);
        return Vault(v);
    }

    /// Connects to the vault served under `service` as the client `client`.
    static Vault connect(const std::string& service, const std::string& client, Wait wait = Wait::SpinPark) {
        cv_vault* v = nullptr;
        cv_result r;
        check(cv_connect_with(service.c_str(), client.c_str(), static_cast<int32_t>(wait), &v, &r), &r);
        return Vault(v);
    }

    Vault(Vault&& other) noexcept : vault_(std::exchange(other.vault_, nullptr)) {}
    Vault& operator=(Vault&& other) noexcept {
        if (this != &other) {
            close();
            vault_ = std::exchange(other.vault_, nullptr);
        }
        return *this;
    }
    Vault(const Vault&) = delete;
    Vault& operator=(const Vault&) = delete;
    ~Vault() { close(); }

    /// Stops an embedded vault (everything queued applied, files final) or disconnects.
    void close() noexcept {
        if (vault_ != nullptr) {
            cv_close(vault_);
            vault_ = nullptr;
        }
    }

    cv_vault* get() const noexcept { return vault_; }

    Outcome open_book(const std::string& venue, const std::string& currency, uint8_t slot_count,
                      uint8_t decimals = 2) {
        return done([&](cv_result* r) {
            return cv_open_book(vault_, venue.c_str(), currency.c_str(), slot_count, decimals, r);
        });
    }
    Outcome reserve(const std::string& id, uint16_t book, uint8_t slot, Side side, uint32_t layer,
                    cv_amount amount) {
        return done([&](cv_result* r) {
            return cv_reserve(vault_, id.c_str(), book, slot, static_cast<int32_t>(side), layer, amount, r);
        });
    }
    Outcome fill(const std::string& id, cv_amount amount) {
        return done([&](cv_result* r) { return cv_fill(vault_, id.c_str(), amount, r); });
    }
    Outcome fill_to(const std::string& id, cv_amount filled) {
        return done([&](cv_result* r) { return cv_fill_to(vault_, id.c_str(), filled, r); });
    }
    Outcome cancel(const std::string& id) {
        return done([&](cv_result* r) { return cv_cancel(vault_, id.c_str(), r); });
    }
    Outcome expire(const std::string& id) {
        return done([&](cv_result* r) { return cv_expire(vault_, id.c_str(), r); });
    }
    Outcome release_order(const std::string& id) {
        return done([&](cv_result* r) { return cv_release_order(vault_, id.c_str(), r); });
    }
    Outcome allocate(uint16_t book, uint8_t slot, cv_amount amount) {
        return done([&](cv_result* r) { return cv_allocate(vault_, book, slot, amount, r); });
    }
    Outcome release(uint16_t book, uint8_t slot, cv_amount amount) {
        return done([&](cv_result* r) { return cv_release(vault_, book, slot, amount, r); });
    }
    Outcome adjust(uint16_t book, uint8_t slot, cv_amount delta) {
        return done([&](cv_result* r) { return cv_adjust(vault_, book, slot, delta, r); });
    }
    Outcome set(uint16_t book, uint8_t slot, cv_amount amount) {
        return done([&](cv_result* r) { return cv_set(vault_, book, slot, amount, r); });
    }
    Outcome reset(uint16_t book, cv_amount balance, bool force = false) {
        return done([&](cv_result* r) { return cv_reset(vault_, book, balance, force, r); });
    }
    Outcome trade(uint16_t book_a, cv_amount delta_a, uint16_t book_b, cv_amount delta_b) {
        return done([&](cv_result* r) { return cv_trade(vault_, book_a, delta_a, book_b, delta_b, r); });
    }
    Outcome set_credit_limit(const std::string& currency, cv_amount limit) {
        return done([&](cv_result* r) { return cv_set_credit_limit(vault_, currency.c_str(), limit, r); });
    }
    Outcome record_alpha(uint16_t book, uint8_t slot, cv_amount amount) {
        return done([&](cv_result* r) { return cv_record_alpha(vault_, book, slot, amount, r); });
    }
    Outcome mark_loss(uint16_t book, uint8_t slot, cv_amount loss) {
        return done([&](cv_result* r) { return cv_mark_loss(vault_, book, slot, loss, r); });
    }
    /// A securities account's reconciliation (cash + the positions' cost; `cv_reconcile_securities`):
    /// kind `set` when applied, `held` when positions disagree and `apply` is false.
    Outcome reconcile_securities(uint16_t book, cv_amount cash,
                                 const std::vector<std::pair<std::string, cv_amount>>& holdings, bool apply = false) {
        std::vector<cv_holding> list;
        for (const auto& h : holdings) list.push_back(cv_holding{h.first.c_str(), h.second});
        return done([&](cv_result* r) {
            return cv_reconcile_securities(vault_, book, cash, list.data(), list.size(), apply, r);
        });
    }
    /// Any command in its JSON form.
    Outcome submit_json(const std::string& json) {
        return done([&](cv_result* r) { return cv_submit_json(vault_, json.c_str(), r); });
    }

    /// A slot's balance: 0 the total, 1 the pool, 2.. a strategy's committed capital.
    cv_amount balance(uint16_t book, uint8_t slot = 0) const {
        cv_amount out = 0;
        check(cv_balance(vault_, book, slot, &out));
        return out;
    }
    /// The book of (venue, currency), if open.
    std::optional<uint16_t> find_book(const std::string& venue, const std::string& currency) const {
        uint16_t out = 0;
        cv_status s = cv_find_book(vault_, venue.c_str(), currency.c_str(), &out);
        if (s == CV_NOT_FOUND) return std::nullopt;
        check(s);
        return out;
    }
    /// The book and slot of a strategy's label (or the security it trades).
    std::optional<std::pair<uint16_t, uint8_t>> slot_of(const std::string& label) const {
        uint16_t book = 0;
        uint8_t slot = 0;
        cv_status s = cv_slot_of(vault_, label.c_str(), &book, &slot);
        if (s == CV_NOT_FOUND) return std::nullopt;
        check(s);
        return std::make_pair(book, slot);
    }
    cv_book book(uint16_t id) const {
        cv_book out{};
        check(cv_book_info(vault_, id, &out));
        return out;
    }
    cv_strategy strategy(uint16_t book, uint8_t slot) const {
        cv_strategy out{};
        check(cv_strategy_info(vault_, book, slot, &out));
        return out;
    }
    std::optional<cv_order> order(const std::string& id) const {
        cv_order out{};
        cv_status s = cv_order_info(vault_, id.c_str(), &out);
        if (s == CV_NOT_FOUND) return std::nullopt;
        check(s);
        return out;
    }

private:
    explicit Vault(cv_vault* v) noexcept : vault_(v) {}

    template <typename Call>
    Outcome done(Call call) {
        cv_result r;
        check(call(&r), &r);
        return Outcome{r.seq, r.kind, figures_of(r)};
    }

    cv_vault* vault_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Seed 004's names.

enum class Exchange { KRAKEN, BINANCE, OKX, COINBASE, BYBIT, BITFINEX, QMT, SSE, SZSE };
enum class Currency { USD, USDT, USDC, EUR, GBP, JPY, CNY, BTC, ETH, SOL };
enum class DataType { BALANCE = CV_BALANCE, POSITION = CV_POSITION, PRICE = CV_PRICE };

inline const char* name(Exchange e) {
    static const char* const names[] = {"KRAKEN", "BINANCE", "OKX", "COINBASE", "BYBIT",
                                        "BITFINEX", "QMT", "SSE", "SZSE"};
    return names[static_cast<int>(e)];
}
inline const char* name(Currency c) {
    static const char* const names[] = {"USD", "USDT", "USDC", "EUR", "GBP", "JPY", "CNY", "BTC", "ETH", "SOL"};
    return names[static_cast<int>(c)];
}

/// One value with its times (seed 004's `SingleQuote`): microseconds since the Unix epoch.
struct SingleQuote {
    int64_t timestamp;
    int64_t localTimestamp;
    double mid;
};

/// A quote table: its one writer (`create`) or a reader (`open`). Move-only.
class QuoteTable {
public:
    static QuoteTable create(const std::string& path, size_t entries_max = 4096) {
        cv_quotes* q = nullptr;
        check(cv_quotes_create(path.c_str(), entries_max, &q));
        return QuoteTable(q);
    }
    static QuoteTable open(const std::string& path) {
        cv_quotes* q = nullptr;
        check(cv_quotes_open(path.c_str(), &q));
        return QuoteTable(q);
    }
    QuoteTable(QuoteTable&& other) noexcept : quotes_(std::exchange(other.quotes_, nullptr)) {}
    QuoteTable& operator=(QuoteTable&& other) noexcept {
        if (this != &other) {
            cv_quotes_close(quotes_);
            quotes_ = std::exchange(other.quotes_, nullptr);
        }
        return *this;
    }
    QuoteTable(const QuoteTable&) = delete;
    QuoteTable& operator=(const QuoteTable&) = delete;
    ~QuoteTable() { cv_quotes_close(quotes_); }

    void write(const std::string& exchange, DataType type, const std::string& currency, const SingleQuote& q) {
        cv_single_quote c{q.timestamp, q.localTimestamp, q.mid};
        check(cv_quotes_write(quotes_, exchange.c_str(), static_cast<int32_t>(type), currency.c_str(), c));
    }
    std::optional<SingleQuote> get(const std::string& exchange, DataType type, const std::string& currency) const {
        cv_single_quote c{};
        cv_status s = cv_quotes_get(quotes_, exchange.c_str(), static_cast<int32_t>(type), currency.c_str(), &c);
        if (s == CV_NOT_FOUND) return std::nullopt;
        check(s);
        return SingleQuote{c.timestamp, c.local_timestamp, c.mid};
    }

private:
    explicit QuoteTable(cv_quotes* q) noexcept : quotes_(q) {}
    cv_quotes* quotes_ = nullptr;
};

/// The quote table this process uses: `$CAPVAULT_QUOTES`, else `/dev/shm/capvault-quotes` (the
/// same as Python's `capvault.hft`).
inline std::string quotes_path() {
    const char* env = std::getenv("CAPVAULT_QUOTES");
    return (env != nullptr && *env != '\0') ? std::string(env) : std::string("/dev/shm/capvault-quotes");
}

/// Seed 004's `ShareMemorySingleQuote`: `write` makes this process the table's writer on its
/// first call; `get` reads (any process). `get` returns a copy, not the seed's pointer: the
/// table's memory is shared and rewritten, so a pointer into it could tear.
class ShareMemorySingleQuote {
public:
    static void write(Exchange exchange, DataType type, Currency currency, const SingleQuote& quote) {
        writer().write(name(exchange), type, name(currency), quote);
    }
    static std::optional<SingleQuote> get(Exchange exchange, DataType type, Currency currency) {
        try {
            return QuoteTable::open(quotes_path()).get(name(exchange), type, name(currency));
        } catch (const Error& e) {
            if (e.status() == CV_IO) return std::nullopt;  // no table yet
            throw;
        }
    }

private:
    static QuoteTable& writer() {
        static QuoteTable table = QuoteTable::create(quotes_path());
        return table;
    }
};

/// One currency's slots (seed 004's `StrategyBalance`).
struct StrategyBalance {
    std::string exchange, currency;
    int strategyCount = 0;
    std::vector<double> strategies;  ///< [0] the total, [1] the pool, [2..] the strategies
    double creditLimit = 0.0;
};

/// Seed 004's `StrategyBalanceManager`: per (exchange, currency) a book of `strategy_count`
/// slots, slot 0 the real total, slot 1 the pool, 2.. the strategies; `total == pool + sum`
/// exactly after every call. A book is opened on first use with `decimals` places (default 8).
/// Credit limits come from the vault's configuration file (`credit_limits`).
class StrategyBalanceManager {
public:
    /// Seed 004's constructor: a manager with its own vault embedded in this process, from a
    /// ledger configuration (JSON text or a file path: its `credit_limits` set each currency's
    /// credit limit) and `options` (files, `serve` to share it with other processes).
    explicit StrategyBalanceManager(Exchange exchange, int strategy_count = 8, const std::string& config = "{}",
                                    const OpenOptions& options = {}, unsigned decimals = 8)
        : owned_(std::make_unique<Vault>(Vault::open(config, options))),
          vault_(owned_.get()),
          exchange_(name(exchange)),
          count_(checked_count(strategy_count)),
          decimals_(decimals) {}

    /// A manager over the vault another process serves under `service` (seed 004's several
    /// processes: one serves, the others connect).
    static StrategyBalanceManager connect(Exchange exchange, int strategy_count, const std::string& service,
                                          const std::string& client = "cpp", unsigned decimals = 8) {
        return StrategyBalanceManager(std::make_unique<Vault>(Vault::connect(service, client)), name(exchange),
                                      strategy_count, decimals);
    }

    /// Over an existing vault (embedded or connected), which the manager borrows.
    StrategyBalanceManager(Vault& vault, const std::string& exchange, int strategy_count = 8, unsigned decimals = 8)
        : vault_(&vault), exchange_(exchange), count_(checked_count(strategy_count)), decimals_(decimals) {}
    StrategyBalanceManager(Vault& vault, Exchange exchange, int strategy_count = 8, unsigned decimals = 8)
        : StrategyBalanceManager(vault, name(exchange), strategy_count, decimals) {}

    /// The vault it commands.
    Vault& vault() noexcept { return *vault_; }

    /// total = pool = balance, every strategy 0 (forces: live orders are dropped, as the seed's
    /// reset zeroes every strategy).
    void reset(const std::string& currency, double balance) {
        uint16_t b = book(currency, true);
        vault_->reset(b, amount(balance, decimals_), true);
    }
    /// Sets one slot (0: the total, as the exchange reports it; the pool absorbs the difference).
    void set(const std::string& currency, double value, int index = 0) {
        vault_->set(book(currency, false), slot(index), amount(value, decimals_));
    }
    /// Adds `delta` to one slot (0: the total and the pool together: a buy, a sell, a transfer).
    void adjust(const std::string& currency, double delta, int index = 0) {
        vault_->adjust(book(currency, false), slot(index), amount(delta, decimals_));
    }
    /// Strategy `index` takes `value` from the pool.
    void allocate(const std::string& currency, int index, double value) {
        vault_->allocate(book(currency, false), slot(index), amount(value, decimals_));
    }
    /// Strategy `index` gives `value` back to the pool.
    void release(const std::string& currency, int index, double value) {
        vault_->release(book(currency, false), slot(index), amount(value, decimals_));
    }
    /// The currency's slots.
    StrategyBalance get(const std::string& currency) const {
        uint16_t b = const_cast<StrategyBalanceManager*>(this)->book(currency, false);
        cv_book info = vault_->book(b);
        StrategyBalance out{exchange_, currency, info.slot_count, {}, to_double(info.credit_limit)};
        for (int i = 0; i < info.slot_count; ++i) out.strategies.push_back(to_double(vault_->balance(b, slot(i))));
        return out;
    }
    /// One slot's balance, by default the total.
    double get_balance(const std::string& currency, int index = 0) const {
        uint16_t b = const_cast<StrategyBalanceManager*>(this)->book(currency, false);
        return to_double(vault_->balance(b, slot(index)));
    }
    /// The currency's credit limit.
    double credit_limit(const std::string& currency) const {
        uint16_t b = const_cast<StrategyBalanceManager*>(this)->book(currency, false);
        return to_double(vault_->book(b).credit_limit);
    }

    void reset(Currency c, double balance) { reset(name(c), balance); }
    void set(Currency c, double value, int index = 0) { set(name(c), value, index); }
    void adjust(Currency c, double delta, int index = 0) { adjust(name(c), delta, index); }
    void allocate(Currency c, int index, double value) { allocate(name(c), index, value); }
    void release(Currency c, int index, double value) { release(name(c), index, value); }
    StrategyBalance get(Currency c) const { return get(name(c)); }
    double get_balance(Currency c, int index = 0) const { return get_balance(name(c), index); }
    double credit_limit(Currency c) const { return credit_limit(name(c)); }

private:
    StrategyBalanceManager(std::unique_ptr<Vault> owned, std::string exchange, int strategy_count, unsigned decimals)
        : owned_(std::move(owned)),
          vault_(owned_.get()),
          exchange_(std::move(exchange)),
          count_(checked_count(strategy_count)),
          decimals_(decimals) {}

    static int checked_count(int count) {
        if (count < 2 || count > 64) throw std::invalid_argument("strategy_count: 2..=64");
        return count;
    }
    static uint8_t slot(int index) {
        if (index < 0 || index > 63) throw std::invalid_argument("index: 0..=63");
        return static_cast<uint8_t>(index);
    }
    uint16_t book(const std::string& currency, bool open_missing) {
        if (auto found = vault_->find_book(exchange_, currency)) return *found;
        if (!open_missing) throw Error(CV_NOT_FOUND, "unknown_book", exchange_ + ":" + currency + " was never reset");
        try {
            vault_->open_book(exchange_, currency, static_cast<uint8_t>(count_), static_cast<uint8_t>(decimals_));
        } catch (const Rejected& r) {
            if (r.code() != "book_exists") throw;  // another process opened it first
        }
        return *vault_->find_book(exchange_, currency);
    }

    std::unique_ptr<Vault> owned_;
    Vault* vault_;
    std::string exchange_;
    int count_;
    unsigned decimals_;
};

}  // namespace capvault

#endif  // CAPVAULT_HPP
