// The Java client end to end against one broker.
//
//   java Smoke BOOTSTRAP TOPIC GROUP RECORDS_PER_CODEC [CLIENT_PROPERTIES_FILE]
//
// The properties file, like the Kafka tools' --command-config, is added to every client's configuration
// (security.protocol, ssl.*, sasl.*).
//
// AdminClient creates TOPIC (3 partitions, two topic configs) and describes the topics, their configs and
// the cluster; an idempotent acks=all producer per compression type (none, gzip, snappy, lz4, zstd) sends
// RECORDS_PER_CODEC keyed records with headers, then one record per partition with a timestamp an hour
// ahead (a "marker", for the max-timestamp lookup) followed by one at the current time; a consumer group
// reads them all back, committing synchronously; AdminClient then lists the group's committed offsets,
// lists offsets (earliest, latest, max timestamp, by timestamp), deletes records, lists them again and
// deletes the topic.
//
// Prints one JSON object per line, {"step": NAME, ...what the call returned}. A call that throws prints
// {"step": NAME, "error": {...}} and the program exits 2; a run where every call returned exits 0.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Smoke {
    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    static final int PARTITIONS = 3;
    static final long MARKER_AHEAD_MS = 3_600_000L;

    /** The step running now, named in the error line when a call throws. */
    static String step = "start";

    /** Settings every client gets (from CLIENT_PROPERTIES_FILE). */
    static final Properties common = new Properties();

    public static void main(String[] args) throws Exception {
        if (args.length != 4 && args.length != 5) {
            System.err.println("usage: Smoke BOOTSTRAP TOPIC GROUP RECORDS_PER_CODEC [CLIENT_PROPERTIES_FILE]");
            System.exit(64);
        }
        if (args.length == 5) {
            try (java.io.FileReader reader = new java.io.FileReader(args[4], StandardCharsets.UTF_8)) {
                common.load(reader);
            }
        }
        Json.watchdog("Smoke", 170);
        String bootstrap = args[0], topic = args[1], group = args[2];
        int perCodec = Integer.parseInt(args[3]);
        try {
            run(bootstrap, topic, group, perCodec);
        } catch (Throwable error) {
            Throwable shown = error instanceof ExecutionException && error.getCause() != null ? error.getCause() : error;
            Json.emit(Json.obj("step", step, "error", Json.error(shown)));
            error.printStackTrace();
            System.exit(2);
        }
        Json.emit(Json.obj("step", "finished"));
        System.exit(0);
    }

    static void run(String bootstrap, String topic, String group, int perCodec) throws Exception {
        Properties adminProps = new Properties();
        adminProps.putAll(common);
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        adminProps.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        adminProps.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(adminProps)) {
            step = "createTopics";
            Map<String, String> topicConfigs = Map.of("retention.ms", "3600000", "cleanup.policy", "delete");
            CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1).configs(topicConfigs)));
            created.all().get(30, TimeUnit.SECONDS);
            Json.emit(Json.obj("step", step, "num_partitions", created.numPartitions(topic).get(),
                    "replication_factor", created.replicationFactor(topic).get(), "topic_id", String.valueOf(created.topicId(topic).get())));

            step = "listTopics";
            Json.emit(Json.obj("step", step, "names", new ArrayList<>(new TreeSet<>(admin.listTopics().names().get(30, TimeUnit.SECONDS)))));

            step = "describeTopics";
            TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
            List<Object> partitions = new ArrayList<>();
            for (TopicPartitionInfo info : description.partitions()) {
                partitions.add(Json.obj("partition", info.partition(), "leader", info.leader() == null ? null : info.leader().id(),
                        "replicas", nodeIds(info.replicas()), "isr", nodeIds(info.isr())));
            }
            Json.emit(Json.obj("step", step, "name", description.name(), "topic_id", String.valueOf(description.topicId()),
                    "internal", description.isInternal(), "partitions", partitions));

            step = "describeConfigs";
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource);
            Map<String, Object> entries = new TreeMap<>();
            for (ConfigEntry entry : config.entries()) {
                entries.put(entry.name(), Json.obj("value", entry.value(), "source", entry.source().name(),
                        "read_only", entry.isReadOnly(), "sensitive", entry.isSensitive()));
            }
            Json.emit(Json.obj("step", step, "resource", "topic", "entries", entries));

            step = "describeCluster";
            DescribeClusterResult cluster = admin.describeCluster();
            List<Object> nodes = new ArrayList<>();
            for (Node node : cluster.nodes().get(30, TimeUnit.SECONDS)) {
                nodes.add(Json.obj("id", node.id(), "host", node.host(), "port", node.port()));
            }
            Node controller = cluster.controller().get(30, TimeUnit.SECONDS);
            Json.emit(Json.obj("step", step, "cluster_id", cluster.clusterId().get(30, TimeUnit.SECONDS), "nodes", nodes,
                    "controller", controller == null ? null : controller.id()));

            long base = System.currentTimeMillis();
            int expected = produce(bootstrap, topic, perCodec, base);
            consume(bootstrap, topic, group, expected);

            step = "listConsumerGroupOffsets";
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            Map<String, Object> committedOut = new TreeMap<>();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : committed.entrySet()) {
                committedOut.put(entry.getKey().topic() + "-" + entry.getKey().partition(),
                        entry.getValue() == null ? null : entry.getValue().offset());
            }
            Json.emit(Json.obj("step", step, "offsets", committedOut));

            step = "listOffsets-before-delete";
            Map<Integer, Object> latest = listOffsets(admin, topic, OffsetSpec.latest(), step, "latest");

            step = "deleteRecords";
            TopicPartition first = new TopicPartition(topic, 0);
            long deleteBefore = Math.min(5, (Long) ((Map<?, ?>) latest.get(0)).get("offset"));
            DeletedRecords deleted = admin.deleteRecords(Map.of(first, RecordsToDelete.beforeOffset(deleteBefore)))
                    .lowWatermarks().get(first).get(30, TimeUnit.SECONDS);
            Json.emit(Json.obj("step", step, "partition", 0, "before_offset", deleteBefore, "low_watermark", deleted.lowWatermark()));

            step = "listOffsets";
            listOffsets(admin, topic, OffsetSpec.earliest(), step, "earliest");
            listOffsets(admin, topic, OffsetSpec.latest(), step, "latest");
            listOffsets(admin, topic, OffsetSpec.maxTimestamp(), step, "max_timestamp");
            Map<TopicPartition, OffsetSpec> byTime = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) byTime.put(new TopicPartition(topic, p), OffsetSpec.forTimestamp(base + MARKER_AHEAD_MS + p));
            emitOffsets(admin.listOffsets(byTime).all().get(30, TimeUnit.SECONDS), step, "for_timestamp");

            step = "deleteTopics";
            long deleting = System.nanoTime();
            admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
            boolean stillListed = true;
            while (System.nanoTime() - deleting < 15_000_000_000L) {
                stillListed = admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(topic);
                if (!stillListed) break;
                Thread.sleep(200);
            }
            Object describedAfter;
            try {
                admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
                describedAfter = null;
            } catch (ExecutionException error) {
                describedAfter = Json.error(error.getCause());
            }
            Json.emit(Json.obj("step", step, "listed_after", stillListed, "describe_after", describedAfter));
        }
    }

    static List<Integer> nodeIds(List<Node> nodes) {
        List<Integer> ids = new ArrayList<>();
        for (Node node : nodes) ids.add(node.id());
        return ids;
    }

    static Map<Integer, Object> listOffsets(Admin admin, String topic, OffsetSpec spec, String stepName, String specName) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) request.put(new TopicPartition(topic, p), spec);
        return emitOffsets(admin.listOffsets(request).all().get(30, TimeUnit.SECONDS), stepName, specName);
    }

    static Map<Integer, Object> emitOffsets(Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> result, String stepName, String specName) {
        Map<Integer, Object> out = new TreeMap<>();
        for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> entry : result.entrySet()) {
            ListOffsetsResult.ListOffsetsResultInfo info = entry.getValue();
            out.put(entry.getKey().partition(), Json.obj("offset", info.offset(), "timestamp", info.timestamp(),
                    "leader_epoch", info.leaderEpoch().orElse(null)));
        }
        Json.emit(Json.obj("step", stepName, "spec", specName, "offsets", out));
        return out;
    }

    static Properties producerProps(String bootstrap, String codec) {
        Properties props = new Properties();
        props.putAll(common);
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "smoke-producer-" + codec);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "20");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return props;
    }

    /** Sends every record and prints what was acknowledged; returns how many were sent. */
    static int produce(String bootstrap, String topic, int perCodec, long base) throws Exception {
        int total = 0;
        for (String codec : CODECS) {
            step = "produce-" + codec;
            List<Object> sent = new ArrayList<>();
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(bootstrap, codec))) {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                List<Map<String, Object>> records = new ArrayList<>();
                for (int i = 0; i < perCodec; i++) {
                    String key = codec + "-key-" + (i % 7);
                    String value = codec + " record " + i + " " + "compressible payload ".repeat(10);
                    RecordHeaders headers = new RecordHeaders();
                    headers.add("codec", codec.getBytes(StandardCharsets.UTF_8));
                    headers.add("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                    if (i % 2 == 0) headers.add("null-valued", null);
                    futures.add(producer.send(new ProducerRecord<>(topic, null, null, key, value, headers)));
                    records.add(Json.obj("codec", codec, "key", key, "value", value, "headers", headerList(headers)));
                }
                producer.flush();
                for (int i = 0; i < futures.size(); i++) {
                    RecordMetadata metadata = futures.get(i).get(30, TimeUnit.SECONDS);
                    Map<String, Object> record = records.get(i);
                    record.put("partition", metadata.partition());
                    record.put("offset", metadata.offset());
                    record.put("timestamp", metadata.timestamp());
                    sent.add(record);
                }
            }
            total += sent.size();
            Json.emit(Json.obj("step", "produce", "codec", codec, "records", sent));
        }

        // A record an hour ahead in each partition, then one at the current time: the max-timestamp
        // lookup must find the marker, which is not the last record.
        step = "produce-markers";
        List<Object> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(bootstrap, "none"))) {
            for (int p = 0; p < PARTITIONS; p++) {
                long markerTime = base + MARKER_AHEAD_MS + p;
                for (Object[] spec : new Object[][] {{"marker-" + p, markerTime}, {"after-marker-" + p, System.currentTimeMillis()}}) {
                    String key = (String) spec[0];
                    RecordMetadata metadata = producer.send(new ProducerRecord<>(topic, p, (Long) spec[1], key, key)).get(30, TimeUnit.SECONDS);
                    sent.add(Json.obj("codec", "markers", "key", key, "value", key, "headers", List.of(), "partition", metadata.partition(),
                            "offset", metadata.offset(), "timestamp", metadata.timestamp()));
                }
            }
        }
        total += sent.size();
        Json.emit(Json.obj("step", "produce", "codec", "markers", "base_timestamp", base, "marker_ahead_ms", MARKER_AHEAD_MS, "records", sent));
        return total;
    }

    static List<Object> headerList(Iterable<Header> headers) {
        List<Object> list = new ArrayList<>();
        for (Header header : headers) {
            list.add(List.of(header.key(), header.value() == null ? "<null>" : new String(header.value(), StandardCharsets.UTF_8)));
        }
        return list;
    }

    static void consume(String bootstrap, String topic, String group, int expected) {
        step = "consume";
        Properties props = new Properties();
        props.putAll(common);
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "smoke-consumer");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<Object> consumed = new ArrayList<>();
        int commits = 0;
        Map<String, Object> committedOut = new TreeMap<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (consumed.size() < expected && System.nanoTime() < deadline) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
                if (records.isEmpty()) continue;
                for (ConsumerRecord<String, String> record : records) {
                    consumed.add(Json.obj("partition", record.partition(), "offset", record.offset(), "key", record.key(),
                            "value", record.value(), "headers", headerList(record.headers()), "timestamp", record.timestamp(),
                            "timestamp_type", record.timestampType().name, "leader_epoch", record.leaderEpoch().orElse(null)));
                }
                consumer.commitSync(Duration.ofSeconds(15));
                commits++;
            }
            // Nothing more than expected arrives.
            ConsumerRecords<String, String> extra = consumer.poll(Duration.ofMillis(1000));
            for (ConsumerRecord<String, String> record : extra) {
                consumed.add(Json.obj("partition", record.partition(), "offset", record.offset(), "key", record.key(),
                        "value", record.value(), "headers", headerList(record.headers()), "timestamp", record.timestamp(),
                        "timestamp_type", record.timestampType().name, "extra", true));
            }
            Set<TopicPartition> assigned = new HashSet<>(consumer.assignment());
            for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : consumer.committed(assigned, Duration.ofSeconds(15)).entrySet()) {
                committedOut.put(Integer.toString(entry.getKey().partition()), entry.getValue() == null ? null : entry.getValue().offset());
            }
        }
        Json.emit(Json.obj("step", "consume", "records", consumed, "commits", commits, "committed", committedOut));
    }
}
