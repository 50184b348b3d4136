# GenScope quick start: `make run` (the reduced paper study and its report) and `make test` (each installs missing Debian packages first).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
# The sanitized clang build of the libFuzzer targets (docs/fuzzing.md), and how long each target runs.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 1800
SMOKE_FUZZ_SECONDS ?= 10

.PHONY: deps configure build runtime run test bench fuzz-build fuzz clean

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

runtime: configure
	@cmake --build $(BUILD) --target genscope_runtime -j $(JOBS)

# The reduced paper study: both networks, every direction kind, the exact walk, then the report.
# --resume: a study interrupted earlier (Ctrl-C, a closed laptop) continues where it stopped.
run: runtime
	$(BUILD)/bin/genscope run --resume experiments/paper/quick.toml
	$(BUILD)/bin/genscope report results/paper-quick.h5 -o results/paper-quick-report
	@echo "report: open results/paper-quick-report/index.html"

# The whole suite, then every fuzz target for a short smoke time from a fixed seed.
test: build fuzz-build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	FUZZ_SEED=1 scripts/fuzz $(FUZZ_BUILD) $(SMOKE_FUZZ_SECONDS)

fuzz-build: deps
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DGENSCOPE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
	@cmake --build $(FUZZ_BUILD) --target genscope_fuzz -j $(JOBS)

# Every fuzz target for FUZZ_SECONDS (default 30 minutes each), continuing the corpus of earlier runs.
fuzz: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The benches measure the quick start's trained networks: `genscope run` trains them (or reuses the cache), and
# bench_exact the CNN study's LeNet-5 (experiments/cnn/train_cnn.py trains it once, in PyTorch).
bench: build
	$(BUILD)/bin/genscope run --quiet experiments/quickstart.toml > /dev/null
	@[ -f data/cnn/real.pt ] || experiments/cnn/train_cnn.py
	for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
