# GenScope quick start: `make run` and `make test` (each installs missing Debian packages first).
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

run: runtime
	$(BUILD)/bin/genscope run experiments/quickstart.toml

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The benches measure the quick start's trained networks: `genscope run` trains them (or reuses the cache).
bench: build
	$(BUILD)/bin/genscope run --quiet experiments/quickstart.toml > /dev/null
	for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD)
