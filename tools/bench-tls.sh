#!/usr/bin/env bash
# What TLS costs (issue 14): one Tributary with plaintext and TLS listeners side by side, the same workloads
# through each in one session, and the TLS/plaintext ratios. Certificates are made here with openssl (a CA
# and a server certificate for 127.0.0.1). Writes into $BENCH_OUT (default bench-results/):
#   tls-plain.json, tls.json   the reports, run for run (same labels)
#   tls.md                     the side-by-side table (A = plaintext, B = TLS, with B/A ratios)
# `make bench` runs it after the main suite; `make bench-tls` alone. BENCH_DURATION / BENCH_WARMUP as there.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-bench-results}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
KAFKA_PORT=${BENCH_KAFKA_PORT:-39192}
KAFKA_TLS_PORT=${BENCH_KAFKA_TLS_PORT:-39193}
MQTT_PORT=${BENCH_MQTT_PORT:-31983}
MQTT_TLS_PORT=${BENCH_MQTT_TLS_PORT:-31984}

swift build -c release --product tributary || exit 1
swift build --package-path Benchmarks -c release --product tributary-bench || exit 1
BENCH=Benchmarks/.build/release/tributary-bench

mkdir -p "$OUT"
rm -f "$OUT/tls-plain.json" "$OUT/tls.json"
source tools/bench-lib.sh

# A CA and a server certificate (ECDSA P-256, as a modern deployment would use).
(
    cd "$WORK" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out server.pem -extfile server.ext 2>/dev/null
) || { echo "openssl could not make the certificates" >&2; exit 1; }

.build/release/tributary serve --data "$WORK/data" --kafka-listen "127.0.0.1:$KAFKA_PORT" --kafka-tls-listen "127.0.0.1:$KAFKA_TLS_PORT" \
    --mqtt-listen "127.0.0.1:$MQTT_PORT" --mqtt-tls-listen "127.0.0.1:$MQTT_TLS_PORT" --mqtt-ws-listen off \
    --tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key" >"$OUT/tributary-tls.log" 2>&1 &
PID=$!
PIDS+=("$PID")
wait_for_port "$KAFKA_PORT" && wait_for_port "$KAFKA_TLS_PORT" && wait_for_port "$MQTT_PORT" && wait_for_port "$MQTT_TLS_PORT" || exit 1
VERSION=$(.build/release/tributary --version)
FAILED=()

# Each workload twice, back to back: through the plaintext listener into tls-plain.json, through the TLS
# listener into tls.json, under the same label.
pair() {
    local name=$1 kind=$2; shift 2
    local plain tls
    if [ "$kind" = kafka ]; then
        plain=(--kafka "127.0.0.1:$KAFKA_PORT"); tls=(--kafka "127.0.0.1:$KAFKA_TLS_PORT" --kafka-tls-ca "$WORK/ca.pem")
    else
        plain=(--mqtt "127.0.0.1:$MQTT_PORT"); tls=(--mqtt "127.0.0.1:$MQTT_TLS_PORT" --mqtt-tls-ca "$WORK/ca.pem")
    fi
    local common=(--broker-name tributary --broker-version "$VERSION" --broker-pid "$PID" --label "$name" --duration "$DURATION" --warmup "$WARMUP" --quiet --append)
    echo "== $name (plaintext)"
    "$BENCH" "$@" "${plain[@]}" "${common[@]}" --json "$OUT/tls-plain.json" || FAILED+=("$name plaintext")
    echo "== $name (TLS)"
    "$BENCH" "$@" "${tls[@]}" "${common[@]}" --json "$OUT/tls.json" || FAILED+=("$name TLS")
}

pair "new connections, 8 at a time" kafka kafka-connect-rate --parallel 8
pair "produce 1 KiB acks=1" kafka kafka-produce --partitions 6 --record-size 1024 --acks 1
pair "produce 100 B acks=all" kafka kafka-produce --partitions 6 --record-size 100 --acks all
pair "consume 1 KiB" kafka kafka-consume --partitions 6 --record-size 1024 --produce-records 1000000
pair "fan-out 1x100 QoS 1" mqtt mqtt-fanout --subscribers 100 --rate 1000 --qos 1
pair "mqtt connections 2000" mqtt mqtt-connections --connections 2000 --hold 1

"$BENCH" --compare "$OUT/tls-plain.json" "$OUT/tls.json" --markdown >"$OUT/tls.md" || FAILED+=("comparison table")
echo
"$BENCH" --compare "$OUT/tls-plain.json" "$OUT/tls.json"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "runs that failed their verdict: ${FAILED[*]}" >&2
    exit 1
fi
