// One static member of a consumer group (group.instance.id set), for the fencing test.
//
//   java StaticMember BOOTSTRAP TOPIC GROUP INSTANCE_ID SECONDS [SESSION_TIMEOUT_MS]
//
// Subscribes to TOPIC and polls until SECONDS have passed or a line "stop" (or EOF) arrives on stdin,
// committing synchronously after every poll that returned records. Prints one JSON object per line:
//   {"event":"started"}
//   {"event":"assigned"|"revoked"|"lost","partitions":[...]}          (from the rebalance listener)
//   {"event":"status","member_id":...,"generation":...,"assignment":[...]}  (whenever one of them changes)
//   {"event":"records","records":[{"partition","offset","key","value"}...]}  (after they were committed)
//   {"event":"fenced","error":{...}}     FencedInstanceIdException from poll()/commitSync(); exit code 3
//   {"event":"error","where":...,"error":{...}}  any other exception; exit code 2
//   {"event":"done"}                     stopped without an error; exit code 0

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class StaticMember {
    public static void main(String[] args) {
        if (args.length < 5) {
            System.err.println("usage: StaticMember BOOTSTRAP TOPIC GROUP INSTANCE_ID SECONDS [SESSION_TIMEOUT_MS]");
            System.exit(64);
        }
        String bootstrap = args[0], topic = args[1], group = args[2], instanceId = args[3];
        long seconds = Long.parseLong(args[4]);
        String sessionTimeout = args.length > 5 ? args[5] : "10000";
        Json.watchdog("StaticMember " + instanceId, seconds + 30);

        AtomicBoolean stopping = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    if (line.trim().equals("stop")) break;
                }
            } catch (Exception ignored) {
            }
            stopping.set(true);
        }, "stdin");
        stdin.setDaemon(true);
        stdin.start();

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instanceId);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "static-" + instanceId + "-" + ProcessHandle.current().pid());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, sessionTimeout);
        props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        int code = 0;
        String where = "create";
        KafkaConsumer<String, String> consumer = null;
        try {
            consumer = new KafkaConsumer<>(props);
            where = "subscribe";
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) { listener("assigned", partitions); }
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) { listener("revoked", partitions); }
                public void onPartitionsLost(Collection<TopicPartition> partitions) { listener("lost", partitions); }
            });
            Json.emit(Json.obj("event", "started", "instance_id", instanceId));
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            Object lastStatus = null;
            while (!stopping.get() && System.nanoTime() < deadline) {
                where = "poll";
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                if (!records.isEmpty()) {
                    where = "commitSync";
                    consumer.commitSync(Duration.ofSeconds(15));
                    List<Object> list = new ArrayList<>();
                    for (ConsumerRecord<String, String> record : records) {
                        list.add(Json.obj("partition", record.partition(), "offset", record.offset(), "key", record.key(), "value", record.value()));
                    }
                    Json.emit(Json.obj("event", "records", "records", list));
                }
                ConsumerGroupMetadata metadata = consumer.groupMetadata();
                Map<String, Object> status = Json.obj("event", "status", "member_id", metadata.memberId(),
                        "generation", metadata.generationId(), "assignment", partitions(consumer.assignment()));
                if (!Objects.equals(status, lastStatus)) {
                    Json.emit(status);
                    lastStatus = status;
                }
            }
            Json.emit(Json.obj("event", "done"));
        } catch (FencedInstanceIdException fenced) {
            Json.emit(Json.obj("event", "fenced", "where", where, "error", Json.error(fenced)));
            code = 3;
        } catch (Throwable error) {
            Json.emit(Json.obj("event", "error", "where", where, "error", Json.error(error)));
            error.printStackTrace();
            code = 2;
        } finally {
            if (consumer != null) {
                try {
                    consumer.close(Duration.ofSeconds(5));
                } catch (Throwable error) {
                    System.err.println("close: " + error);
                }
            }
        }
        System.exit(code);
    }

    private static List<Integer> partitions(Collection<TopicPartition> partitions) {
        List<Integer> list = new ArrayList<>();
        for (TopicPartition tp : partitions) list.add(tp.partition());
        return new ArrayList<>(new TreeSet<>(list));
    }

    private static void listener(String event, Collection<TopicPartition> partitions) {
        Json.emit(Json.obj("event", event, "partitions", partitions(partitions)));
    }
}
