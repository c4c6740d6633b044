# Tributary: `make run` and `make test` are all a new user needs (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
SCHEMAS ?= ../shared/kafka-protocol/messages
ERROR_CODES ?= ../shared/kafka-protocol/error-codes.tsv

# Debian packages: C libraries the build links, and the tools the tests drive.
BUILD_PACKAGES := liblz4-dev libsnappy-dev libzstd-dev zlib1g-dev libssl-dev pkg-config
# Go clients (sarama, kafka-go) build offline from Debian's packages; gcc for sarama's zstd (cgo). The Java
# client's runtime libraries (../shared/clients/java/README.md).
TEST_PACKAGES := kcat mosquitto-clients \
	golang-go gcc libc6-dev golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev \
	openjdk-17-jdk-headless libslf4j-java liblz4-java libsnappy-java libzstd-jni-java libprotobuf-java

.PHONY: run test build build-release deps test-deps generate fuzz bench bench-tls bench-micro bench-check swift-test interop-test clean

deps:
	@tools/ensure-packages.sh $(BUILD_PACKAGES)

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build -c release --product tributary

## Builds in release mode and starts the server on embedded defaults.
run: build-release
	.build/release/tributary serve

## Installs the test tools, then runs the Swift tests and the interop suite; fails on any failure.
test: deps test-deps swift-test interop-test

test-deps:
	@tools/ensure-packages.sh $(TEST_PACKAGES)
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || tools/ensure-packages.sh python3-venv
	@if [ ! -f $(VENV)/.installed ] || [ tests/interop/requirements.txt -nt $(VENV)/.installed ]; then \
		$(PYTHON) -m venv $(VENV) && \
		$(VENV)/bin/pip install --quiet --upgrade pip && \
		$(VENV)/bin/pip install --quiet -r tests/interop/requirements.txt && \
		touch $(VENV)/.installed; \
	fi

swift-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

interop-test: build-release
	TRIBUTARY_BINARY=$(CURDIR)/.build/release/tributary $(VENV)/bin/pytest tests/interop

## Regenerates Sources/KafkaProtocol/Generated and the test helpers from Apache Kafka's schemas.
generate:
	$(SWIFT) run generate-kafka-codec --schemas $(SCHEMAS) --error-codes $(ERROR_CODES)

## Runs the Kafka request-decoder and MQTT packet-decoder fuzzers (libFuzzer, AddressSanitizer); FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 600
fuzz: deps
	$(SWIFT) build --package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address
	mkdir -p Fuzz/corpus
	Fuzz/.build/release/FuzzKafkaRequestDecoder Fuzz/corpus Tests/KafkaProtocolTests/Fixtures/captured \
		-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1
	mkdir -p Fuzz/mqtt-corpus
	Fuzz/.build/release/FuzzMQTTPacketDecoder Fuzz/mqtt-corpus \
		-max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1

## The standard suite: Tributary and mosquitto on loopback, the same workloads, results in bench-results/ (tools/bench.sh).
bench: deps
	tools/bench.sh

## TLS against plaintext on one server: new connections, produce, consume, MQTT fan-out (tools/bench-tls.sh).
bench-tls: deps
	tools/bench-tls.sh

## All micro benchmark targets (package-benchmark), every metric.
bench-micro: deps
	$(SWIFT) package --package-path Benchmarks benchmark

## Allocation regression check: runs the `alloc.*` micro benchmarks (malloc count only: produce request
## decode, MQTT publish fan-out to one subscriber) and compares each p90 with Benchmarks/Thresholds. More
## mallocs than stored fails; fewer passes with a reminder to store the new counts. After an intended
## change, store them with:
##   swift package --package-path Benchmarks --allow-writing-to-package-directory benchmark thresholds update \
##     --path Benchmarks/Thresholds --target 'CodecBenchmarks|MQTTBenchmarks' --filter 'alloc\..*'
BENCH_CHECK_TARGETS ?= CodecBenchmarks|MQTTBenchmarks
BENCH_CHECK_FILTER ?= alloc\..*
bench-check: deps
	@log=$$(mktemp); \
	$(SWIFT) package --package-path Benchmarks benchmark thresholds check --path Benchmarks/Thresholds \
		--target '$(BENCH_CHECK_TARGETS)' --filter '$(BENCH_CHECK_FILTER)' --no-progress 2>&1 | tee $$log; \
	status=$${PIPESTATUS[0]}; \
	if [ $$status -eq 0 ]; then \
		echo "bench-check: OK, allocation counts equal Benchmarks/Thresholds."; \
	elif grep -q "is BETTER than the defined thresholds" $$log && ! grep -q "is WORSE than the defined thresholds" $$log; then \
		echo "bench-check: OK, fewer allocations than Benchmarks/Thresholds records; store the new counts (see the Makefile)."; \
	elif grep -q "is WORSE than the defined thresholds" $$log; then \
		echo "bench-check: FAILED: more allocations than Benchmarks/Thresholds allows (the 'Deviations worse than threshold' table above)." >&2; \
		rm -f $$log; exit 1; \
	else \
		echo "bench-check: FAILED: the allocation benchmarks did not run or found no thresholds (exit status $$status, see above)." >&2; \
		rm -f $$log; exit 1; \
	fi; \
	rm -f $$log

clean:
	rm -rf .build .build-fuzz $(VENV)
