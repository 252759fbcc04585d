# Thin wrapper: every target installs what is missing, then builds with meson.
# See README.md. BUILD, ASAN_BUILD, TSAN_BUILD and FUZZ_BUILD may be overridden.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
UNITY_SIZE ?= 10
MESON_TEST  = meson test --print-errorlogs --num-processes 2

.PHONY: all deps deps-demo deps-test deps-deb build demo test test-e2e test-unit test-sanitize \
  test-asan test-tsan test-bench test-fuzz test-deb tidy bench bench-build bench-control compare \
  deb debs format clean

all: build

# tools/install-deps installs by group, so each target pulls in only what it needs.
deps:
	@tools/install-deps build
deps-demo:
	@tools/install-deps build demo
deps-test:
	@tools/install-deps build demo test web

# Libraries and tools as unity files (tests never: see tests/meson.build), as in the sanitizer
# builds: DPDK's and Abseil's headers are parsed once per unity file, which takes a fifth off the
# release build. UNITY_SIZE sources to a file (meson's default is 4): one file for most libraries,
# which took the release build from 156 to 133 s and the ASan build from 399 to 338 s here. The benchmarks and the unit test programs are left out (make test runs the unit
# tests under ASan + UBSan); bench-build and test-unit switch them on for the targets that run
# them. Each source still compiles on its own in the fuzz build, and tidy reads a database of its
# own (TIDY_BUILD) with one entry per source.
$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dunity=on -Dunity_size=$(UNITY_SIZE) -Dbenchmarks=false \
	  -Dunit_tests=false

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

demo: deps-demo build
	tools/demo $(BUILD)

# The README's test command: the release build's end-to-end tests (real Linux TCP through the
# optimised privlinkd on veth pairs, the tools' --help), then every unit, fixture and concurrency
# test under ASan + UBSan, and the concurrency tests under TSan. Under 15 minutes on 2 cores from
# a fresh clone (docs/testing.md has the measured stages). Heavier checks have targets of their
# own that .ci/run also calls: test-bench, test-fuzz, tidy.
test: test-e2e test-sanitize

# --no-rebuild: `build` made every test's program; meson test's own rebuild would also compile the
# benchmarks (the suite filter does not narrow what it builds), which only test-bench needs.
test-e2e: deps-test build
	$(MESON_TEST) -C $(BUILD) --no-rebuild --suite e2e --suite tools

# The unit tests against the release build's optimised libraries (make test runs them under
# ASan + UBSan): switches the release build's unit test programs on.
test-unit: deps-test build
	meson setup --reconfigure $(BUILD) -Dunit_tests=true
	meson compile -C $(BUILD)
	$(MESON_TEST) -C $(BUILD) --no-rebuild --suite unit

# The benchmarks' own tests (suite bench): privlink-bench with two workers on their lcores, and
# both benchmarks' --help. Their compile would push make test past its budget; .ci/run calls it.
test-bench: deps-test bench-build
	$(MESON_TEST) -C $(BUILD) --suite bench

bench-build: build
	meson setup --reconfigure $(BUILD) -Dbenchmarks=true
	meson compile -C $(BUILD) bench/privlink-microbench bench/privlink-bench

# The sanitizer builds too compile the libraries as unity files. The ASan + UBSan build uses clang: with the sanitizers on, it compiles the gtest-heavy test
# files about twice as fast as gcc (3.4 against 7.1 minutes for the whole build here), and the
# release build stays gcc's, so the code is held to both compilers. It links with lld: its 59
# links of instrumented programs took 153 s with ld.bfd and 41 s with lld here. The test programs
# with many files share a precompiled header (cpp_pch in tests/*/meson.build).
$(ASAN_BUILD)/build.ninja:
	CC=clang CXX=clang++ CC_LD=lld CXX_LD=lld meson setup $(ASAN_BUILD) -Ddebug=true -Doptimization=0 -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dbenchmarks=false -Dunity=on -Dunity_size=$(UNITY_SIZE)

$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Ddebug=true -Doptimization=1 -Db_sanitize=thread -Db_lundef=false \
	  -Dtsan_only_concurrency=true -Dbenchmarks=false -Dunity=on -Dunity_size=$(UNITY_SIZE)

test-sanitize: test-asan test-tsan

test-asan: deps-test $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  $(MESON_TEST) -C $(ASAN_BUILD) --suite unit

test-tsan: deps-test $(TSAN_BUILD)/build.ninja
	meson compile -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1 $(MESON_TEST) -C $(TSAN_BUILD) --suite concurrency

# libFuzzer over the packet path (tests/fuzz/packet_fuzz.cc), clang with ASan + UBSan, for
# FUZZ_SECONDS on the corpus kept in the repo (tests/fuzz/corpus: seeds; tests/fuzz/regressions:
# inputs that once crashed it). New inputs go to $(FUZZ_BUILD)/corpus, a crash to
# $(FUZZ_BUILD)/crash-*: fix it, then add the input to tests/fuzz/regressions.
$(FUZZ_BUILD)/build.ninja:
	@tools/install-deps build fuzz
	CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dbenchmarks=false -Ddebug=true \
	  -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false

test-fuzz: $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD) tests/fuzz/privlink-fuzz-packet
	mkdir -p $(FUZZ_BUILD)/corpus
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  $(FUZZ_BUILD)/tests/fuzz/privlink-fuzz-packet -max_total_time=$(FUZZ_SECONDS) -max_len=1600 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	  $(FUZZ_BUILD)/corpus tests/fuzz/corpus tests/fuzz/regressions

# clang-tidy 14 with the checks listed in .clang-tidy over the packet path (nat/, lb/, every folder
# of dataplane/: about a minute on two cores, most of it parsing DPDK headers); TIDY_SOURCES='...'
# widens it (control/, tools/). Its compile database is a configured build that is never compiled
# (TIDY_BUILD, no unity files: an entry per source). .ci/run calls it after make test.
TIDY_SOURCES ?= 'nat/*.cc' 'lb/*.cc' 'dataplane/*.cc'
TIDY_BUILD ?= build-tidy
$(TIDY_BUILD)/build.ninja:
	meson setup $(TIDY_BUILD) --buildtype=release -Dunity=off
tidy: deps $(TIDY_BUILD)/build.ninja
	@tools/install-deps build tidy
	git ls-files $(TIDY_SOURCES) | \
	  xargs -P 2 -n 4 clang-tidy-14 -p $(TIDY_BUILD) --quiet --extra-arg=-Wno-unknown-warning-option

# privlink-bench (the worker loop at 1k/100k/1M flows, about 15 s) runs after the microbenchmarks;
# PRIVLINK_BENCH_ARGS passes options, e.g. PRIVLINK_BENCH_ARGS='--flows 1000 --json out.json'.
bench: bench-build
	$(MESON_TEST) -C $(BUILD) --suite bench
	$(BUILD)/bench/privlink-microbench
	$(BUILD)/bench/privlink-bench $(PRIVLINK_BENCH_ARGS)

# bench/control_bench.py: privlinkd --no-dataplane with a state directory at 50,000 endpoints
# over 500 services (bulk applies, single PUTs, restart, memory); CONTROL_BENCH_ARGS passes options.
bench-control: build
	bench/control_bench.py --build $(BUILD) $(CONTROL_BENCH_ARGS)

# bench/compare.py (as root, several minutes): privlinkd beside dpdk-testpmd, OVS-DPDK and nftables on
# the same trace; installs its own packages. COMPARE_ARGS passes options, e.g. '--flows 1000'.
compare: build
	bench/compare.py --build $(BUILD) $(COMPARE_ARGS)

# The Debian packages privlinkd and privlink-bench load at run time, downloaded (apt-get download)
# into DEBS_DIR for a machine without a package mirror: copy the folder there and
# `dpkg -i DEBS_DIR/*.deb`. The list is read off the built binaries' shared libraries.
DEBS_DIR ?= $(BUILD)/debs
debs: bench-build
	tools/fetch-debs $(DEBS_DIR) $(BUILD)/tools/privlinkd $(BUILD)/bench/privlink-bench

# The privlink Debian package, built by Debian's own tools from debian/ (dpkg-buildpackage,
# debhelper), moved from the parent directory (where dpkg-buildpackage writes it) into DEB_DIR.
DEB_DIR ?= $(BUILD)/deb
deb: deps-deb
	dpkg-buildpackage -us -uc -b -j2
	mkdir -p $(DEB_DIR)
	mv ../privlink_*.deb ../privlink-dbgsym_*.deb ../privlink_*.buildinfo ../privlink_*.changes \
	  $(DEB_DIR)/
	debian/rules clean

# The package installed on this machine (lintian, apt-get install, the unit's command line,
# privlinkctl stats), then purged; .ci/run calls it.
test-deb: deb
	tests/package/deb_test.sh $(DEB_DIR)

deps-deb:
	@tools/install-deps build deb

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(TIDY_BUILD)
