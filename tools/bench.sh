#!/usr/bin/env bash
# `make bench`: the standard benchmark suite. Starts Tributary (release build, fresh data directory) and
# mosquitto (Debian's package) on loopback ports, runs the same MQTT workloads against both and the Kafka
# workloads against Tributary next to the disk's and loopback's bandwidth, and writes bench-results/:
#   tributary.json, mosquitto.json   the MQTT reports (tributary-bench --json)
#   kafka.json                       the Kafka reports, references.json the loopback reference
#   comparison.md                    the side-by-side MQTT table with ratios
#   kafka.md                         the Kafka figures as ratios of the disk and loopback bandwidth
#   plots/*.svg                      latency by percentile, both brokers per run
#   summary.md                       all of it with the date, machine and commit (README's table comes from it)
# Each run's exit code is kept: the suite fails at the end if any run lost or duplicated messages.
# BENCH_DURATION / BENCH_WARMUP (seconds) shorten or lengthen every run.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-bench-results}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
KAFKA_PORT=${BENCH_KAFKA_PORT:-39092}
MQTT_PORT=${BENCH_MQTT_PORT:-31883}
MOSQUITTO_PORT=${BENCH_MOSQUITTO_PORT:-31884}

tools/ensure-packages.sh mosquitto || exit 1
swift build -c release --product tributary || exit 1
swift build --package-path Benchmarks -c release --product tributary-bench || exit 1
BENCH=Benchmarks/.build/release/tributary-bench

rm -rf "$OUT"
mkdir -p "$OUT/plots"
source tools/bench-lib.sh

# Tributary: its defaults (QoS 1/2 messages stored with fdatasync before they are acknowledged).
.build/release/tributary serve --data "$WORK/data" --kafka-listen "127.0.0.1:$KAFKA_PORT" \
    --mqtt-listen "127.0.0.1:$MQTT_PORT" --mqtt-ws-listen off >"$OUT/tributary.log" 2>&1 &
TRIBUTARY_PID=$!
PIDS+=("$TRIBUTARY_PID")
# mosquitto: in memory (no persistence), with the same per-client queue and inflight limits as Tributary.
cat >"$WORK/mosquitto.conf" <<CONF
listener $MOSQUITTO_PORT 127.0.0.1
allow_anonymous true
max_inflight_messages 100
max_queued_messages 10000
CONF
mosquitto -c "$WORK/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
MOSQUITTO_PID=$!
PIDS+=("$MOSQUITTO_PID")
wait_for_port "$KAFKA_PORT" && wait_for_port "$MQTT_PORT" && wait_for_port "$MOSQUITTO_PORT" || exit 1

TRIBUTARY_VERSION=$(.build/release/tributary --version)
MOSQUITTO_VERSION=$(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
FAILED=()

run() {
    local name=$1; shift
    echo "== $name"
    "$BENCH" "$@" --duration "$DURATION" --warmup "$WARMUP" --quiet --append || FAILED+=("$name")
}

for broker in tributary mosquitto; do
    if [ "$broker" = tributary ]; then port=$MQTT_PORT pid=$TRIBUTARY_PID version=$TRIBUTARY_VERSION
    else port=$MOSQUITTO_PORT pid=$MOSQUITTO_PID version=$MOSQUITTO_VERSION; fi
    common=(--mqtt "127.0.0.1:$port" --broker-name "$broker" --broker-version "$version" --broker-pid "$pid" --json "$OUT/$broker.json")
    run "$broker fan-out 1x100 QoS 0" mqtt-fanout "${common[@]}" --subscribers 100 --rate 1000 --qos 0
    run "$broker fan-out 1x100 QoS 1" mqtt-fanout "${common[@]}" --subscribers 100 --rate 1000 --qos 1
    run "$broker fan-out 1x1000 QoS 1" mqtt-fanout "${common[@]}" --subscribers 1000 --rate 50 --qos 1
    # The search's rounds are short: each offered rate for 5 s after 1 s of warm-up.
    echo "== $broker fan-out maximum rate"
    "$BENCH" mqtt-fanout "${common[@]}" --subscribers 100 --qos 1 --find-max --rate 500 --p99-goal-ms 50 \
        --duration 5 --warmup 1 --drain-timeout 5 --append || FAILED+=("$broker fan-out maximum rate")
    echo "== $broker fan-out 1x1000 maximum rate"
    "$BENCH" mqtt-fanout "${common[@]}" --subscribers 1000 --qos 1 --find-max --rate 25 --p99-goal-ms 50 \
        --duration 5 --warmup 1 --drain-timeout 5 --append || FAILED+=("$broker fan-out 1x1000 maximum rate")
    run "$broker ingest 1000 devices" mqtt-ingest "${common[@]}" --devices 1000 --rate 10 --qos 1
    run "$broker ingest 200 devices x 200/s" mqtt-ingest "${common[@]}" --devices 200 --rate 200 --qos 1
    # The highest QoS 1 ingest rate with PUBACK p99 within 10 ms; rounds as in the fan-out search.
    echo "== $broker ingest maximum rate"
    "$BENCH" mqtt-ingest "${common[@]}" --devices 200 --qos 1 --find-max --rate 100 --p99-goal-ms 10 \
        --duration 5 --warmup 1 --drain-timeout 5 --append || FAILED+=("$broker ingest maximum rate")
done

# Physical references, measured on this machine during the run: the data directory's disk and loopback
# TCP. The disk of a shared VM swings by several times within minutes, so dd runs three times (before the
# produce runs, after them, after the consume runs) and the median is the reference.
DISK_SAMPLES=()
measure_disk() {
    echo "== disk: dd 1 GiB conv=fdatasync"
    local line
    line=$(dd if=/dev/zero of="$WORK/dd.tmp" bs=1M count=1024 conv=fdatasync 2>&1 | tail -1)
    rm -f "$WORK/dd.tmp"
    echo "$line"
    DISK_SAMPLES+=("$(echo "$line" | awk -F', ' '{ split($1, b, " "); split($(NF-1), s, " "); printf "%.1f", b[1] / s[1] / 1e6 }')")
}
measure_disk
echo "== loopback TCP"
LOOPBACK_LINE=$("$BENCH" loopback --duration 5 --json "$OUT/references.json")
echo "$LOOPBACK_LINE"
LOOPBACK_MBS=$(echo "$LOOPBACK_LINE" | awk '{print $3}')

kafka=(--kafka "127.0.0.1:$KAFKA_PORT" --broker-name tributary --broker-version "$TRIBUTARY_VERSION" --broker-pid "$TRIBUTARY_PID" --json "$OUT/kafka.json" --partitions 6)
run "produce 100 B acks=all" kafka-produce "${kafka[@]}" --record-size 100 --acks all
run "produce 100 B acks=1" kafka-produce "${kafka[@]}" --record-size 100 --acks 1
run "produce 1 KiB acks=all" kafka-produce "${kafka[@]}" --record-size 1024 --acks all
# Several producers share the group commit: the durable-throughput figure to set beside dd's.
run "produce 1 KiB acks=all 4 producers" kafka-produce "${kafka[@]}" --record-size 1024 --acks all --producers 4
run "produce 1 KiB acks=1" kafka-produce "${kafka[@]}" --record-size 1024 --acks 1
measure_disk
run "consume 100 B" kafka-consume "${kafka[@]}" --record-size 100 --produce-records 2000000
# Page-cache reads sent with sendfile: bandwidth next to loopback TCP (1 KiB records keep the client's
# per-record work from being the limit).
run "consume 1 KiB" kafka-consume "${kafka[@]}" --record-size 1024 --produce-records 2000000
run "consume 100 B in a group of 2" kafka-consume "${kafka[@]}" --record-size 100 --produce-records 2000000 --group "bench-$COMMIT-$$" --consumers 2
measure_disk
DISK_MBS=$(printf '%s\n' "${DISK_SAMPLES[@]}" | sort -n | sed -n 2p)
echo "disk reference: median of ${DISK_SAMPLES[*]} MB/s = $DISK_MBS MB/s"
# End-to-end latency at half the measured maximum of 100-byte acks=all.
MAX_RATE=$(python3 -c 'import json,sys
r=[x for x in json.load(open(sys.argv[1]))["reports"] if x["label"].startswith("kafka-produce 100 B acks=all")]
print(int(max(m["value"] for m in r[0]["metrics"] if m["name"]=="records/s") / 2) if r else 10000)' "$OUT/kafka.json")
# With acks=all a record is visible only after the flush that covers it: the disk's flush latency, measured
# just before and after, bounds the end-to-end tail (tools/fsync_latency.py: one file, and the floor that
# syncing 6 partitions' files sets under a request). The producer's linger sets the rest of the floor: the
# first run keeps the clients' 5 ms default, the second lingers 0 ms (records go out as soon as the window
# allows). A low-rate run shows the floor where neither the cores nor the disk's bandwidth are the limit.
python3 tools/fsync_latency.py "$WORK" 5 6 | tee -a "$OUT/fsync.txt"
run "end-to-end at $MAX_RATE records/s" kafka-e2e "${kafka[@]}" --record-size 100 --acks all --rate "$MAX_RATE"
run "end-to-end at $MAX_RATE records/s, linger 0" kafka-e2e "${kafka[@]}" --record-size 100 --acks all --rate "$MAX_RATE" \
    --linger-ms 0 --label "kafka-e2e 100 B $MAX_RATE/s acks=all linger 0"
run "end-to-end at 10,000 records/s" kafka-e2e "${kafka[@]}" --record-size 100 --acks all --rate 10000
python3 tools/fsync_latency.py "$WORK" 5 6 | tee -a "$OUT/fsync.txt"
# The same linger-0 run against a second server whose data directory is in memory (tmpfs): the latency of the
# path itself (network, append, fetch, the load generator), without the disk's flushes.
SHM_DATA=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then SHM_DATA=$(mktemp -d /dev/shm/tributary-bench.XXXXXX); CLEAN_DIRS+=("$SHM_DATA"); fi
if [ -n "$SHM_DATA" ]; then
    SHM_PORT=$((KAFKA_PORT + 1))
    .build/release/tributary serve --data "$SHM_DATA/data" --kafka-listen "127.0.0.1:$SHM_PORT" --mqtt-listen off \
        --mqtt-ws-listen off >"$OUT/tributary-tmpfs.log" 2>&1 &
    SHM_PID=$!
    PIDS+=("$SHM_PID")
    if wait_for_port "$SHM_PORT"; then
        run "end-to-end at $MAX_RATE records/s, linger 0, data on tmpfs" kafka-e2e --kafka "127.0.0.1:$SHM_PORT" \
            --broker-name tributary --broker-version "$TRIBUTARY_VERSION" --broker-pid "$SHM_PID" --json "$OUT/kafka.json" \
            --partitions 6 --record-size 100 --acks all --rate "$MAX_RATE" --linger-ms 0 \
            --label "kafka-e2e 100 B $MAX_RATE/s acks=all linger 0, data on tmpfs"
    else
        FAILED+=("the tmpfs server did not start")
    fi
    kill "$SHM_PID" 2>/dev/null; wait "$SHM_PID" 2>/dev/null
    rm -rf "$SHM_DATA"
else
    echo "== /dev/shm is not writable here: no end-to-end run with the data in memory"
fi
run "MQTT -> Kafka 10,000 msg/s" mqtt-to-kafka --mqtt "127.0.0.1:$MQTT_PORT" "${kafka[@]:0:8}" --json "$OUT/kafka.json" --devices 100 --rate 10000 --qos 1

"$BENCH" --compare "$OUT/tributary.json" "$OUT/mosquitto.json" --markdown --plot-dir "$OUT/plots" >"$OUT/comparison.md" || FAILED+=("comparison table")
"$BENCH" references "$OUT/kafka.json" --disk-mbs "$DISK_MBS" --loopback-mbs "$LOOPBACK_MBS" --format markdown >"$OUT/kafka.md" || FAILED+=("references table")

# TLS next to plaintext, on a server of its own (tools/bench-tls.sh).
BENCH_OUT="$OUT" tools/bench-tls.sh || FAILED+=("TLS cost")

{
    echo "# Tributary benchmark results"
    echo
    echo "$(date -u +%Y-%m-%d), commit $COMMIT, Tributary $TRIBUTARY_VERSION, mosquitto $MOSQUITTO_VERSION; $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "Runs of $DURATION s after $WARMUP s of warm-up; the load generator runs on the same machine as the brokers."
    echo
    echo "## MQTT: Tributary (A) and mosquitto (B), the same workloads"
    echo
    cat "$OUT/comparison.md"
    echo
    echo "## Kafka (Tributary) next to the machine's disk and loopback bandwidth"
    echo
    cat "$OUT/kafka.md"
    echo
    echo "The data directory's disk next to the end-to-end runs (before, after):"
    echo
    sed 's/^/- /' "$OUT/fsync.txt" 2>/dev/null
    echo
    echo "## TLS: plaintext (A) and TLS (B) listeners of one server, the same workloads"
    echo
    cat "$OUT/tls.md" 2>/dev/null || echo "(the TLS runs did not complete)"
} >"$OUT/summary.md"

echo
"$BENCH" --compare "$OUT/tributary.json" "$OUT/mosquitto.json"
echo
"$BENCH" references "$OUT/kafka.json" --disk-mbs "$DISK_MBS" --loopback-mbs "$LOOPBACK_MBS"
echo
echo "results: $OUT/summary.md, $OUT/*.json, $OUT/plots/"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "runs that failed their verdict: ${FAILED[*]}" >&2
    exit 1
fi
