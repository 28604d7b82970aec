// A C++ client of a served vault, for tests/cpp/processes.py: `worker SERVICE NAME SLOT ROUNDS`
// runs ROUNDS rounds on its slot (allocate 1.01; every third round release 0.5; an order of 2
// reserved, filled, cancelled and released; a release it knows is refused) and prints how many
// refusals it saw and its slot's balance as it reads it from the vault's mirror (its own writes
// included). ROUNDS 0 runs until killed, printing "ready" after its first round.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "capvault.hpp"

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: worker SERVICE NAME SLOT ROUNDS\n");
        return 2;
    }
    const std::string name = argv[2];
    const auto slot = static_cast<uint8_t>(std::atoi(argv[3]));
    const long rounds = std::atol(argv[4]);
    capvault::Vault vault = capvault::Vault::connect(argv[1], name);
    long refused = 0;
    for (long n = 0; rounds == 0 || n < rounds; ++n) {
        vault.allocate(0, slot, capvault::amount("1.01"));
        if (n % 3 == 0) vault.release(0, slot, capvault::amount("0.5"));
        try {
            vault.release(0, slot, capvault::units(1000000));
        } catch (const capvault::Rejected& r) {
            if (r.code() != "exceeds_allocation") throw;
            ++refused;
        }
        const std::string order = name + "-" + std::to_string(n);
        vault.reserve(order, 0, slot, capvault::Side::Buy, 1, capvault::units(2));
        vault.fill(order, capvault::units(1));
        vault.cancel(order);
        vault.release_order(order);
        if (rounds == 0 && n == 0) {
            std::printf("ready\n");
            std::fflush(stdout);
        }
    }
    std::printf("%ld %s\n", refused, capvault::to_string(vault.balance(0, slot)).c_str());
    return 0;
}
