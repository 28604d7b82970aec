// The C++ client's round trip through the gateway, for the latency report's `ipc_cpp_*` keys:
// `round_trip SERVICE SAMPLES FIRST_ID` connects busy-spinning as the client "bench", times each
// reservation's answer (then cancels it, untimed), and prints `p50 p999` in nanoseconds. The
// same commands as the Rust client's row (examples/latency/ipc.rs), order ids from FIRST_ID.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "capvault.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: round_trip SERVICE SAMPLES FIRST_ID\n");
        return 2;
    }
    const long samples = std::atol(argv[2]);
    const long long first = std::atoll(argv[3]);
    capvault::Vault vault = capvault::Vault::connect(argv[1], "bench", capvault::Wait::BusySpin);
    const cv_amount amount = capvault::units(100);
    std::vector<int64_t> times;
    times.reserve(static_cast<size_t>(samples));
    cv_result result;
    char id[32];
    for (long n = 0; n < samples; ++n) {
        std::snprintf(id, sizeof id, "%lld", first + n);
        auto start = std::chrono::steady_clock::now();
        cv_status status = cv_reserve(vault.get(), id, 0, 2, CV_BUY, 1, amount, &result);
        auto took = std::chrono::steady_clock::now() - start;
        capvault::check(status, &result);
        times.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
        capvault::check(cv_cancel(vault.get(), id, &result), &result);
    }
    std::sort(times.begin(), times.end());
    auto at = [&](double q) { return times[static_cast<size_t>(q * static_cast<double>(times.size() - 1))]; };
    std::printf("%lld %lld\n", static_cast<long long>(at(0.5)), static_cast<long long>(at(0.999)));
    return 0;
}
