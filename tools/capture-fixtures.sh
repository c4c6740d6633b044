#!/usr/bin/env bash
# Records the request frames real clients send (kcat, confluent-kafka, kafka-python) through
# tools/capture_proxy.py in front of a real tributary, into Tests/KafkaProtocolTests/Fixtures/captured/<client>/.
# The Swift tests decode every one of them. Usage: tools/capture-fixtures.sh [path to tributary binary]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build/debug/tributary}
python=.venv/bin/python
fixtures=Tests/KafkaProtocolTests/Fixtures/captured
broker_port=29092
proxy_port=29093
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT

"$binary" serve --data "$data" --kafka-listen 127.0.0.1:$broker_port --advertised 127.0.0.1:$proxy_port > "$data/server.log" 2>&1 &
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$broker_port) 2>/dev/null && break; sleep 0.2; done

capture() {
    local client=$1; shift
    rm -rf "${fixtures:?}/$client"
    "$python" tools/capture_proxy.py --listen 127.0.0.1:$proxy_port --upstream 127.0.0.1:$broker_port --output "$fixtures/$client" &
    local proxy=$!
    for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$proxy_port) 2>/dev/null && break; sleep 0.2; done
    "$@"
    kill $proxy; wait $proxy 2>/dev/null || true
    echo "$client: $(ls "$fixtures/$client" | wc -l) frames"
}

kcat_session() {
    local b=127.0.0.1:$proxy_port
    kcat -b $b -L > /dev/null
    printf 'k1:first\nk2:second\nk3:third\n' | kcat -b $b -P -t kcat-fixture -K: -H trace=abc -z snappy
    kcat -b $b -C -t kcat-fixture -o beginning -e -q > /dev/null
}

confluent_session() {
    "$python" - 127.0.0.1:$proxy_port <<'PY'
import sys, time
import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource
b = sys.argv[1]
admin = AdminClient({"bootstrap.servers": b})
for future in admin.create_topics([NewTopic(f"confluent-{c}", num_partitions=1, replication_factor=1) for c in ["none", "gzip", "snappy", "lz4", "zstd"]]).values():
    future.result()
for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
    producer = confluent_kafka.Producer({"bootstrap.servers": b, "compression.type": codec, "linger.ms": 50, "acks": "all"})
    for i in range(20):
        producer.produce(f"confluent-{codec}", key=f"key-{i}", value=f"value-{i} " * 40, headers=[("h", b"v")], timestamp=1_700_000_000_000 + i)
    assert producer.flush(10) == 0
consumer = confluent_kafka.Consumer({"bootstrap.servers": b, "group.id": "fixtures", "enable.auto.commit": False})
consumer.assign([confluent_kafka.TopicPartition("confluent-zstd", 0, confluent_kafka.OFFSET_BEGINNING)])
seen = 0
deadline = time.time() + 10
while seen < 20 and time.time() < deadline:
    message = consumer.poll(1)
    if message is not None and not message.error():
        seen += 1
consumer.offsets_for_times([confluent_kafka.TopicPartition("confluent-zstd", 0, 1_700_000_000_010)], timeout=10)
consumer.close()
for future in admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "confluent-none")]).values():
    future.result()
for future in admin.delete_records([confluent_kafka.TopicPartition("confluent-none", 0, 5)]).values():
    future.result()
time.sleep(1)
PY
}

kafka_python_session() {
    "$python" - 127.0.0.1:$proxy_port <<'PY'
import sys
import kafka
from kafka.admin import KafkaAdminClient, NewTopic
b = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=b)
admin.create_topics([NewTopic("kafka-python-fixture", num_partitions=2, replication_factor=1)])
producer = kafka.KafkaProducer(bootstrap_servers=b, compression_type="gzip", acks="all")
for i in range(10):
    producer.send("kafka-python-fixture", key=b"k%d" % i, value=b"v%d" % i, partition=i % 2, headers=[("h", b"v")])
producer.flush()
consumer = kafka.KafkaConsumer(bootstrap_servers=b, auto_offset_reset="earliest", consumer_timeout_ms=3000, enable_auto_commit=False)
consumer.assign([kafka.TopicPartition("kafka-python-fixture", 0)])
consumer.seek_to_beginning()
assert len(list(consumer)) == 5
admin.close()
PY
}

capture kcat kcat_session
capture confluent-kafka confluent_session
capture kafka-python kafka_python_session
