# Tributary: `make run` and `make test` are all a new user needs (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
SCHEMAS ?= ../shared/kafka-protocol/messages
ERROR_CODES ?= ../shared/kafka-protocol/error-codes.tsv

# Debian packages: C libraries the build links, and the tools the tests drive.
BUILD_PACKAGES := liblz4-dev libsnappy-dev libzstd-dev zlib1g-dev libssl-dev pkg-config
TEST_PACKAGES := kcat mosquitto-clients

.PHONY: run test build build-release deps test-deps generate fuzz bench swift-test interop-test clean

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

## Micro benchmarks (package-benchmark).
bench: deps
	$(SWIFT) package --package-path Benchmarks benchmark

clean:
	rm -rf .build .build-fuzz $(VENV)
