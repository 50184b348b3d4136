# GenScope quick start: `make run` (the reduced paper study and its report) and `make test` (each installs missing Debian packages first).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: deps configure build runtime run test bench clean

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

runtime: configure
	@cmake --build $(BUILD) --target genscope_runtime -j $(JOBS)

# The reduced paper study: both networks, every direction kind, the exact walk, then the report.
run: runtime
	$(BUILD)/bin/genscope run experiments/paper/quick.toml
	$(BUILD)/bin/genscope report results/paper-quick.h5 -o results/paper-quick-report
	@echo "report: open results/paper-quick-report/index.html"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The benches measure the quick start's trained networks: `genscope run` trains them (or reuses the cache).
bench: build
	$(BUILD)/bin/genscope run --quiet experiments/quickstart.toml > /dev/null
	for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD)
