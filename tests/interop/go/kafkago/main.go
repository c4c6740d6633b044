// kafkago-client drives a Kafka broker with segmentio's kafka-go (Debian's
// golang-github-segmentio-kafka-go-dev, 0.2.1) for the interop suite (tests/interop/test_go_clients.py).
//
//	kafkago-client meta  -bootstrap HOST:PORT -topic T               partitions and their first/last offsets (Metadata v1, ListOffsets v1)
//	kafkago-client write -bootstrap HOST:PORT -topic T -count N      Writer, RequiredAcks -1 (all)
//	kafkago-client read  -bootstrap HOST:PORT -topic T -expect N     one Reader per partition from its first offset
//	kafkago-client group -bootstrap HOST:PORT -topic T -group G -expect N
//	                                                                 consumer-group Reader, FetchMessage + CommitMessages
//	kafkago-client commit -bootstrap HOST:PORT -topic T -group G      consumer-group Reader that joins the group and commits
//	                                                                 every partition's last offset (CommitMessages, no fetch)
//
// Every run prints one JSON object on stdout. Any error (or the deadline of -timeout) is named in that
// object's "error" and on stderr, and the exit code is non-zero, so a dead broker never hangs the caller.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

var (
	bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "broker address")
	topic     = flag.String("topic", "", "topic")
	count     = flag.Int("count", 1000, "write: number of messages")
	expect    = flag.Int("expect", -1, "read, group: number of messages to read (-1 for read: up to the last offset found at the start)")
	group     = flag.String("group", "", "group: consumer group id")
	timeout   = flag.Duration("timeout", 45*time.Second, "whole-run deadline")
)

var (
	command    string
	outputMu   sync.Mutex
	outputDone bool
	// What the client library logged as errors (kafka-go retries internally and only logs most failures).
	clientErrors = &errorLog{}
)

type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 20 {
		l.lines = append(l.lines, strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (l *errorLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.lines...)
}

func emit(result map[string]interface{}, err error) {
	outputMu.Lock()
	defer outputMu.Unlock()
	if outputDone {
		return
	}
	outputDone = true
	if lines := clientErrors.snapshot(); len(lines) > 0 {
		result["client_errors"] = lines
	}
	if err != nil {
		result["error"] = err.Error()
	}
	encoded, encodeErr := json.Marshal(result)
	if encodeErr != nil {
		fmt.Fprintf(os.Stderr, "kafkago-client: cannot encode the result: %v\n", encodeErr)
		os.Exit(2)
	}
	os.Stdout.Write(append(encoded, '\n'))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkago-client %s: %v\n", command, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func messageValue(i int) string { return fmt.Sprintf("kafka-go value %05d", i) }

type offsets struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// partitionOffsets finds the topic's partitions and each one's first and last offset.
func partitionOffsets(ctx context.Context) (map[int]offsets, error) {
	conn, err := kafka.DialContext(ctx, "tcp", *bootstrap)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %v", *bootstrap, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	partitions, err := conn.ReadPartitions(*topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %v", *topic, err)
	}
	found := map[int]offsets{}
	for _, partition := range partitions {
		leader, err := kafka.DialLeader(ctx, "tcp", *bootstrap, *topic, partition.ID)
		if err != nil {
			return nil, fmt.Errorf("dial leader of %s/%d: %v", *topic, partition.ID, err)
		}
		leader.SetDeadline(time.Now().Add(10 * time.Second))
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %v", *topic, partition.ID, err)
		}
		found[partition.ID] = offsets{First: first, Last: last}
	}
	return found, nil
}

func meta(ctx context.Context, result map[string]interface{}) error {
	found, err := partitionOffsets(ctx)
	if err != nil {
		return err
	}
	byPartition := map[string]offsets{}
	for id, o := range found {
		byPartition[fmt.Sprint(id)] = o
	}
	result["partitions"] = byPartition
	return nil
}

func write(ctx context.Context, result map[string]interface{}) error {
	writer := kafka.NewWriter(kafka.WriterConfig{
		Brokers:      []string{*bootstrap},
		Topic:        *topic,
		RequiredAcks: -1, // RequireAll
		BatchSize:    200,
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  3,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		ErrorLogger:  log.New(clientErrors, "", 0),
	})
	written := 0
	var writeErr error
	for start := 0; start < *count; start += 500 {
		end := start + 500
		if end > *count {
			end = *count
		}
		messages := make([]kafka.Message, 0, end-start)
		for i := start; i < end; i++ {
			messages = append(messages, kafka.Message{Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte(messageValue(i))})
		}
		if writeErr = writer.WriteMessages(ctx, messages...); writeErr != nil {
			break
		}
		written = end
	}
	closeErr := writer.Close()
	result["written"] = written
	if writeErr != nil {
		return fmt.Errorf("WriteMessages after %d of %d messages: %v", written, *count, describe(writeErr))
	}
	if closeErr != nil {
		return fmt.Errorf("close writer: %v", closeErr)
	}
	return nil
}

// describe adds the Kafka error code to kafka-go's error text.
func describe(err error) string {
	if kafkaErr, ok := err.(kafka.Error); ok {
		return fmt.Sprintf("%v (Kafka error code %d)", err, int(kafkaErr))
	}
	return err.Error()
}

// readRecord is [partition, offset, key, value, timestamp (ms)].
type readRecord [5]interface{}

func record(message kafka.Message) readRecord {
	timestamp := int64(-1)
	if !message.Time.IsZero() {
		timestamp = message.Time.UnixNano() / int64(time.Millisecond)
	}
	return readRecord{message.Partition, message.Offset, string(message.Key), string(message.Value), timestamp}
}

func read(ctx context.Context, result map[string]interface{}) error {
	found, err := partitionOffsets(ctx)
	if err != nil {
		return err
	}
	ids := []int{}
	for id := range found {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	records := []readRecord{}
	defer func() { result["records"], result["count"] = records, len(records) }()
	for _, id := range ids {
		o := found[id]
		if o.Last <= o.First {
			continue
		}
		reader := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     []string{*bootstrap},
			Topic:       *topic,
			Partition:   id,
			MinBytes:    1,
			MaxBytes:    1 << 20,
			MaxWait:     250 * time.Millisecond,
			ErrorLogger: log.New(clientErrors, "", 0),
		})
		if err := reader.SetOffset(o.First); err != nil {
			reader.Close()
			return fmt.Errorf("seek %s/%d to %d: %v", *topic, id, o.First, err)
		}
		for {
			message, err := reader.ReadMessage(ctx)
			if err != nil {
				reader.Close()
				return fmt.Errorf("read %s/%d after %d messages: %v", *topic, id, len(records), describe(err))
			}
			records = append(records, record(message))
			if message.Offset >= o.Last-1 {
				break
			}
		}
		if err := reader.Close(); err != nil {
			return fmt.Errorf("close reader of %s/%d: %v", *topic, id, err)
		}
	}
	if *expect >= 0 && len(records) != *expect {
		return fmt.Errorf("read %d messages, expected %d", len(records), *expect)
	}
	return nil
}

// groupRead reads -expect messages as a member of -group, committing each one (synchronous commits).
func groupRead(ctx context.Context, result map[string]interface{}) error {
	if *group == "" || *expect < 0 {
		return fmt.Errorf("group needs -group and -expect")
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{*bootstrap},
		GroupID:           *group,
		Topic:             *topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		ErrorLogger:       log.New(clientErrors, "", 0),
	})
	records := []readRecord{}
	committed := map[string]int64{}
	defer func() { result["records"], result["count"], result["committed"] = records, len(records), committed }()
	pending := []kafka.Message{}
	commit := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := reader.CommitMessages(ctx, pending...); err != nil {
			return fmt.Errorf("commit: %v", describe(err))
		}
		for _, message := range pending {
			committed[fmt.Sprint(message.Partition)] = message.Offset + 1
		}
		pending = pending[:0]
		return nil
	}
	for len(records) < *expect {
		message, err := reader.FetchMessage(ctx)
		if err != nil {
			reader.Close()
			return fmt.Errorf("fetch after %d messages: %v", len(records), describe(err))
		}
		records = append(records, record(message))
		pending = append(pending, message)
		if len(pending) >= 100 {
			if err := commit(); err != nil {
				reader.Close()
				return err
			}
		}
	}
	if err := commit(); err != nil {
		reader.Close()
		return err
	}
	if err := reader.Close(); err != nil {
		return fmt.Errorf("close group reader: %v", err)
	}
	return nil
}

// commitLast joins -group with a consumer-group Reader and commits, for every partition of the topic, the
// offset after its last record, without fetching: the group protocol alone (FindCoordinator v0, JoinGroup
// v1, SyncGroup v0, Heartbeat v0, OffsetFetch v1, OffsetCommit v2, LeaveGroup v0).
func commitLast(ctx context.Context, result map[string]interface{}) error {
	if *group == "" {
		return fmt.Errorf("commit needs -group")
	}
	found, err := partitionOffsets(ctx)
	if err != nil {
		return err
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{*bootstrap},
		GroupID:           *group,
		Topic:             *topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		ErrorLogger:       log.New(clientErrors, "", 0),
	})
	committed := map[string]int64{}
	result["committed"] = committed
	messages := []kafka.Message{}
	for id, o := range found {
		if o.Last > 0 {
			// CommitMessages commits the offset after the message's.
			messages = append(messages, kafka.Message{Topic: *topic, Partition: id, Offset: o.Last - 1})
		}
	}
	if err := reader.CommitMessages(ctx, messages...); err != nil {
		reader.Close()
		return fmt.Errorf("commit: %v", describe(err))
	}
	for _, message := range messages {
		committed[fmt.Sprint(message.Partition)] = message.Offset + 1
	}
	if err := reader.Close(); err != nil {
		return fmt.Errorf("close group reader: %v", err)
	}
	return nil
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: kafkago-client meta|write|read|group|commit [flags]")
		flag.PrintDefaults()
	}
	if len(os.Args) < 2 {
		flag.Usage()
		os.Exit(2)
	}
	command = os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	if *topic == "" {
		fmt.Fprintln(os.Stderr, "kafkago-client: -topic is required")
		os.Exit(2)
	}
	log.SetOutput(ioutil.Discard)
	result := map[string]interface{}{"command": command, "topic": *topic}
	// The context ends a little before the hard deadline so that the run can still report what it did.
	ctx, cancel := context.WithTimeout(context.Background(), *timeout-*timeout/10)
	defer cancel()
	time.AfterFunc(*timeout, func() {
		emit(map[string]interface{}{"command": command, "topic": *topic},
			fmt.Errorf("timed out after %v (is the broker at %s alive?)", *timeout, *bootstrap))
	})
	var err error
	switch command {
	case "meta":
		err = meta(ctx, result)
	case "write":
		err = write(ctx, result)
	case "read":
		err = read(ctx, result)
	case "group":
		err = groupRead(ctx, result)
	case "commit":
		err = commitLast(ctx, result)
	default:
		err = fmt.Errorf("unknown command %q", command)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%v (deadline of %v reached; is the broker at %s alive?)", err, *timeout, *bootstrap)
	}
	emit(result, err)
}
