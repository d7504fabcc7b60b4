#!/usr/bin/env bash
# Runs every test: a gcc build (-Werror) with the whole suite, including the end-to-end tests over
# real USB in the VM test bed; then a clang build with AddressSanitizer + UndefinedBehaviorSanitizer
# and the libFuzzer harnesses, whole suite again but the VM tests (including a short bounded fuzz
# run of each parser).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
JOBS=$(nproc)
status=0

echo "== gcc build"
cmake -S . -B build -G Ninja -DCMAKE_C_COMPILER=gcc >/dev/null
ninja -C build
(cd build && ctest --output-on-failure -j"$JOBS") || status=1
# the figures the VM tests and benchmarks measured (ctest keeps the output of passing tests)
grep -hE '^(bench:|bench-speed:|\| |vm:|emu:|fetch:|threads:|sigterm:|daemon:|update of|dfu-util wrote|dfu-util -e|usbip attach|# times)' \
	build/Testing/Temporary/LastTest.log 2>/dev/null | sed 's/^/  /' || true

echo "== firmware: the nRF5340 DK application (Zephyr), its split, MCUboot, and the glue on native_posix"
if [ -n "${ZEPHYR_BASE:-}" ] || [ -f ../shared/zephyr/zephyr-3.4.0-sparse.tar.xz ]; then
	./scripts/install-deps.sh --firmware
	DFUMGR_NATIVE_TEST=1 DFUMGR_NATIVE_VM=1 DFUMGR_BUILD_MCUBOOT=1 firmware/zephyr/build.sh ||
		status=1
else
	echo "firmware: skipped (no Zephyr workspace: set ZEPHYR_BASE to build firmware/zephyr)"
fi

echo "== clang + ASan/UBSan + libFuzzer build"
cmake -S . -B build-asan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DDFUMGR_SANITIZE=ON -DDFUMGR_FUZZ=ON >/dev/null
ninja -C build-asan
# the VM tests ran above against the same sources; here the sanitizers watch everything else
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j"$JOBS" -LE vm) || status=1

echo "== clang + ThreadSanitizer: several threads on one backend (ctest label threads)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DDFUMGR_TSAN=ON -DDFUMGR_EXAMPLES=OFF >/dev/null
ninja -C build-tsan test_threads test_board test_provision
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	ctest --output-on-failure -L threads) || status=1
grep -h '^threads:' build-tsan/Testing/Temporary/LastTest.log 2>/dev/null | sed 's/^/  /' || true

if [ $status -eq 0 ]; then echo "test.sh: all test runs passed"; else echo "test.sh: FAILURES"; fi
exit $status
