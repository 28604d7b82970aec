#!/usr/bin/env bash
# The C ABI and the C++ API: the library builds, the checked-in header is what cbindgen makes of
# the code, the header compiles as C and the C++ wrapper as C++17 (both -Wall -Wextra -Werror),
# the C++ tests pass (doctest, from Debian's doctest-dev) and seed 004's C++ session runs.
set -euo pipefail
cd "$(dirname "$0")/.."

test -f /usr/include/doctest/doctest.h || (apt-get update -qq && apt-get install -y -qq doctest-dev g++ >/dev/null)
cargo clippy -p capvault-capi --all-targets -- -D warnings
cargo test -p capvault-capi
cargo build --release -p capvault-capi
if ! git diff --exit-code -- include/capvault.h; then
  echo "include/capvault.h differs from what cbindgen makes of capi/src (commit the regenerated header)" >&2
  exit 1
fi
test -f target/release/libcapvault.so && test -f target/release/libcapvault.a
link=(-Iinclude -Ltarget/release -lcapvault "-Wl,-rpath,$PWD/target/release")
gcc -std=c11 -Wall -Wextra -Werror tests/cpp/header.c "${link[@]}" -o target/cpp-header-c
./target/cpp-header-c >/dev/null
g++ -std=c++17 -Wall -Wextra -Werror tests/cpp/test_capi.cpp "${link[@]}" -o target/cpp-test-capi
./target/cpp-test-capi
# Again under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer: every pointer the
# C ABI hands out is released by its owner, nothing is read or written out of bounds.
g++ -std=c++17 -g -fsanitize=address,undefined -fno-omit-frame-pointer -Wall -Wextra -Werror \
  tests/cpp/test_capi.cpp "${link[@]}" -o target/cpp-test-capi-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 ./target/cpp-test-capi-asan
# The static library links too (with what Rust's standard library needs from the system).
g++ -std=c++17 -Wall -Wextra -Werror -Iinclude examples/cpp/seed_004.cpp target/release/libcapvault.a \
  -lpthread -ldl -lm -o target/cpp-seed-004-static
g++ -std=c++17 -Wall -Wextra -Werror examples/cpp/seed_004.cpp "${link[@]}" -o target/seed_004_cpp
CAPVAULT_QUOTES="$PWD/target/cpp-quotes" ./target/seed_004_cpp
CAPVAULT_QUOTES="$PWD/target/cpp-quotes-static" ./target/cpp-seed-004-static >/dev/null
# The C++ client's round-trip bench (the latency report's ipc_cpp_* keys, CAPVAULT_CPP_CLIENT).
g++ -O2 -std=c++17 -Wall -Wextra -Werror benches/cpp/round_trip.cpp "${link[@]}" -o target/cpp-round-trip
# A C++, a Python and a Rust process on one served vault, exact; then a C++ client killed.
g++ -std=c++17 -Wall -Wextra -Werror tests/cpp/worker.cpp "${link[@]}" -o target/cpp-worker
cargo build --release --bin capvault
python tests/cpp/processes.py
