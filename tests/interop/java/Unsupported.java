// What the Java client sees when it uses a feature the broker does not have.
//
//   java Unsupported init-transactions BOOTSTRAP TRANSACTIONAL_ID MAX_BLOCK_MS
//       A producer with transactional.id calls initTransactions().
//   java Unsupported consumer-protocol BOOTSTRAP TOPIC GROUP SECONDS
//       A consumer with group.protocol=consumer (KIP-848) subscribes and polls for up to SECONDS.
//
// Prints one JSON line {"mode", "outcome": "error"|"ok", "elapsed_ms", "error": {...}} ("error" has the
// exception's class and message, its root cause, and "kafka_exception"/"timeout_exception": whether it is a
// KafkaException / the client's TimeoutException) and exits 0 when the program itself worked (whatever the
// outcome); exits 2 (with a message) on a setup error, 64 on a usage error.

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Unsupported {
    public static void main(String[] args) {
        if (args.length < 1) usage();
        switch (args[0]) {
            case "init-transactions":
                if (args.length != 4) usage();
                initTransactions(args[1], args[2], Long.parseLong(args[3]));
                break;
            case "consumer-protocol":
                if (args.length != 5) usage();
                consumerProtocol(args[1], args[2], args[3], Long.parseLong(args[4]));
                break;
            default:
                usage();
        }
        System.exit(0);
    }

    private static void usage() {
        System.err.println("usage: Unsupported init-transactions BOOTSTRAP TRANSACTIONAL_ID MAX_BLOCK_MS\n"
                + "       Unsupported consumer-protocol BOOTSTRAP TOPIC GROUP SECONDS");
        System.exit(64);
    }

    private static void initTransactions(String bootstrap, String transactionalId, long maxBlockMs) {
        Json.watchdog("Unsupported init-transactions", maxBlockMs / 1000 + 30);
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(maxBlockMs));
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        KafkaProducer<String, String> producer;
        try {
            producer = new KafkaProducer<>(props);
        } catch (Throwable error) {
            System.err.println("could not create the producer: " + error);
            error.printStackTrace();
            System.exit(2);
            return;
        }
        long started = System.nanoTime();
        try {
            producer.initTransactions();
            Json.emit(Json.obj("mode", "init-transactions", "outcome", "ok", "elapsed_ms", elapsedMs(started)));
        } catch (Throwable error) {
            Json.emit(Json.obj("mode", "init-transactions", "outcome", "error", "elapsed_ms", elapsedMs(started),
                    "error", kafkaError(error)));
        } finally {
            try {
                producer.close(Duration.ofSeconds(5));
            } catch (Throwable error) {
                System.err.println("close: " + error);
            }
        }
    }

    private static void consumerProtocol(String bootstrap, String topic, String group, long seconds) {
        Json.watchdog("Unsupported consumer-protocol", seconds + 30);
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        KafkaConsumer<String, String> consumer;
        try {
            consumer = new KafkaConsumer<>(props);
        } catch (Throwable error) {
            System.err.println("could not create the consumer: " + error);
            error.printStackTrace();
            System.exit(2);
            return;
        }
        long started = System.nanoTime();
        long deadline = started + seconds * 1_000_000_000L;
        int records = 0;
        try {
            consumer.subscribe(List.of(topic));
            while (System.nanoTime() < deadline) {
                ConsumerRecords<String, String> batch = consumer.poll(Duration.ofMillis(500));
                records += batch.count();
            }
            Json.emit(Json.obj("mode", "consumer-protocol", "outcome", "ok", "elapsed_ms", elapsedMs(started),
                    "records", records, "assignment", consumer.assignment().toString()));
        } catch (Throwable error) {
            Json.emit(Json.obj("mode", "consumer-protocol", "outcome", "error", "elapsed_ms", elapsedMs(started),
                    "records", records, "error", kafkaError(error)));
        } finally {
            try {
                consumer.close(Duration.ofSeconds(5));
            } catch (Throwable error) {
                System.err.println("close: " + error);
            }
        }
    }

    /** Json.error plus whether it is a KafkaException and whether it is the client's TimeoutException. */
    private static Map<String, Object> kafkaError(Throwable error) {
        Map<String, Object> out = Json.error(error);
        out.put("kafka_exception", error instanceof KafkaException);
        out.put("timeout_exception", error instanceof TimeoutException);
        return out;
    }

    private static long elapsedMs(long started) {
        return (System.nanoTime() - started) / 1_000_000;
    }
}
