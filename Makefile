# Thin wrapper: every target installs what is missing, then builds with meson.
# See README.md. BUILD, ASAN_BUILD and TSAN_BUILD may be overridden.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
MESON_TEST  = meson test --print-errorlogs --num-processes 2

.PHONY: all deps build demo test test-unit test-sanitize test-asan test-tsan bench compare format clean

all: build

deps:
	@tools/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

demo: build
	tools/demo $(BUILD)

test: test-unit test-sanitize

test-unit: build
	$(MESON_TEST) -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Ddebug=true -Doptimization=1 -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dbenchmarks=false

$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Ddebug=true -Doptimization=1 -Db_sanitize=thread -Db_lundef=false \
	  -Dtsan_only_concurrency=true -Dbenchmarks=false

test-sanitize: test-asan test-tsan

test-asan: deps $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  $(MESON_TEST) -C $(ASAN_BUILD) --suite unit

test-tsan: deps $(TSAN_BUILD)/build.ninja
	meson compile -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1 $(MESON_TEST) -C $(TSAN_BUILD) --suite concurrency

# privlink-bench (the worker loop at 1k/100k/1M flows, about 15 s) runs after the microbenchmarks;
# PRIVLINK_BENCH_ARGS passes options, e.g. PRIVLINK_BENCH_ARGS='--flows 1000 --json out.json'.
bench: build
	meson compile -C $(BUILD) bench/privlink-microbench bench/privlink-bench
	$(BUILD)/bench/privlink-microbench
	$(BUILD)/bench/privlink-bench $(PRIVLINK_BENCH_ARGS)

# bench/compare.py (as root, several minutes): privlinkd beside dpdk-testpmd, OVS-DPDK and nftables on
# the same trace; installs its own packages. COMPARE_ARGS passes options, e.g. '--flows 1000'.
compare: build
	bench/compare.py --build $(BUILD) $(COMPARE_ARGS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
