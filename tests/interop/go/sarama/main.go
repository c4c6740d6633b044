// sarama-client drives a Kafka broker with Shopify's sarama (Debian's golang-github-shopify-sarama-dev,
// 1.22) for the interop suite (tests/interop/test_go_clients.py).
//
//	sarama-client produce -bootstrap HOST:PORT -topic T -count N [-mode sync|async] [-compression none|gzip|snappy|lz4|zstd] [-partitions P]
//	sarama-client consume -bootstrap HOST:PORT -topic T [-expect N]
//
// Every run prints one JSON object on stdout. Any error (a produce not acknowledged, a consumer error, the
// deadline of -timeout) is named in that object's "error" and on stderr, and the exit code is non-zero, so
// a dead broker never hangs the caller.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

var (
	bootstrap   = flag.String("bootstrap", "127.0.0.1:9092", "broker address")
	topic       = flag.String("topic", "", "topic")
	count       = flag.Int("count", 1000, "produce: number of records")
	mode        = flag.String("mode", "sync", "produce: sync (SyncProducer) or async (AsyncProducer)")
	compression = flag.String("compression", "none", "produce: none, gzip, snappy, lz4 or zstd")
	partitions  = flag.Int("partitions", 0, "produce: create the topic with this many partitions first (0: leave it to auto-creation)")
	expect      = flag.Int("expect", -1, "consume: fail unless exactly this many records are read (-1: no check)")
	timeout     = flag.Duration("timeout", 45*time.Second, "whole-run deadline")
)

// output is written once, as JSON, whatever happens.
var (
	command    string
	outputMu   sync.Mutex
	outputDone bool
)

func emit(result map[string]interface{}, err error) {
	outputMu.Lock()
	defer outputMu.Unlock()
	if outputDone {
		return
	}
	outputDone = true
	if err != nil {
		result["error"] = err.Error()
	}
	encoded, encodeErr := json.Marshal(result)
	if encodeErr != nil {
		fmt.Fprintf(os.Stderr, "sarama-client: cannot encode the result: %v\n", encodeErr)
		os.Exit(2)
	}
	os.Stdout.Write(append(encoded, '\n'))
	if err != nil {
		fmt.Fprintf(os.Stderr, "sarama-client %s: %v\n", command, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "tributary-interop-sarama"
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	return c
}

func codec(name string) (sarama.CompressionCodec, error) {
	switch name {
	case "none":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return 0, fmt.Errorf("unknown compression %q", name)
}

// The record of index i; the consumer side (and the Python test) recompute it.
func recordKey(i int) string { return fmt.Sprintf("key-%d", i) }
func recordValue(i int) string {
	return fmt.Sprintf("%s %s value %05d", *mode, *compression, i)
}

type partitionSummary struct {
	Count       int   `json:"count"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

func produce(result map[string]interface{}) error {
	result["mode"], result["compression"], result["count"] = *mode, *compression, *count
	c := config()
	var err error
	if c.Producer.Compression, err = codec(*compression); err != nil {
		return err
	}
	if *partitions > 0 {
		admin, err := sarama.NewClusterAdmin([]string{*bootstrap}, c)
		if err != nil {
			return fmt.Errorf("cluster admin: %v", err)
		}
		err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: int32(*partitions), ReplicationFactor: 1}, false)
		admin.Close()
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			if topicErr, ok := err.(*sarama.TopicError); !ok || topicErr.Err != sarama.ErrTopicAlreadyExists {
				return fmt.Errorf("create topic %s: %v", *topic, err)
			}
		}
	}
	client, err := sarama.NewClient([]string{*bootstrap}, c)
	if err != nil {
		return fmt.Errorf("client: %v", err)
	}
	defer client.Close()

	messages := make([]*sarama.ProducerMessage, *count)
	for i := range messages {
		messages[i] = &sarama.ProducerMessage{
			Topic:    *topic,
			Key:      sarama.StringEncoder(recordKey(i)),
			Value:    sarama.StringEncoder(recordValue(i)),
			Headers:  []sarama.RecordHeader{{Key: []byte("index"), Value: []byte(fmt.Sprint(i))}},
			Metadata: i,
		}
	}

	acked := 0
	var failures []string
	summaries := map[int32]*partitionSummary{}
	note := func(message *sarama.ProducerMessage) {
		acked++
		summary := summaries[message.Partition]
		if summary == nil {
			summary = &partitionSummary{FirstOffset: message.Offset, LastOffset: message.Offset}
			summaries[message.Partition] = summary
		}
		summary.Count++
		if message.Offset < summary.FirstOffset {
			summary.FirstOffset = message.Offset
		}
		if message.Offset > summary.LastOffset {
			summary.LastOffset = message.Offset
		}
	}

	switch *mode {
	case "sync":
		producer, err := sarama.NewSyncProducerFromClient(client)
		if err != nil {
			return fmt.Errorf("sync producer: %v", err)
		}
		// The first records one at a time (SendMessage), the rest in chunks (SendMessages).
		single := *count
		if single > 200 {
			single = 200
		}
		for i := 0; i < single; i++ {
			if _, _, err := producer.SendMessage(messages[i]); err != nil {
				failures = append(failures, fmt.Sprintf("record %d: %v", i, err))
				break
			}
			note(messages[i])
		}
		for start := single; start < *count && len(failures) == 0; start += 500 {
			end := start + 500
			if end > *count {
				end = *count
			}
			chunk := messages[start:end]
			if err := producer.SendMessages(chunk); err != nil {
				if producerErrors, ok := err.(sarama.ProducerErrors); ok {
					for _, producerError := range producerErrors {
						failures = append(failures, fmt.Sprintf("record %v: %v", producerError.Msg.Metadata, producerError.Err))
					}
				} else {
					failures = append(failures, err.Error())
				}
				failed := map[*sarama.ProducerMessage]bool{}
				if producerErrors, ok := err.(sarama.ProducerErrors); ok {
					for _, producerError := range producerErrors {
						failed[producerError.Msg] = true
					}
				}
				for _, message := range chunk {
					if !failed[message] {
						note(message)
					}
				}
				break
			}
			for _, message := range chunk {
				note(message)
			}
		}
		if err := producer.Close(); err != nil && len(failures) == 0 {
			failures = append(failures, fmt.Sprintf("close: %v", err))
		}
	case "async":
		producer, err := sarama.NewAsyncProducerFromClient(client)
		if err != nil {
			return fmt.Errorf("async producer: %v", err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for remaining := *count; remaining > 0; remaining-- {
				select {
				case message := <-producer.Successes():
					note(message)
				case producerError := <-producer.Errors():
					failures = append(failures, fmt.Sprintf("record %v: %v", producerError.Msg.Metadata, producerError.Err))
				}
			}
		}()
		for _, message := range messages {
			producer.Input() <- message
		}
		<-done
		producer.AsyncClose()
		for range producer.Successes() {
		}
		for range producer.Errors() {
		}
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}

	result["acked"] = acked
	byPartition := map[string]*partitionSummary{}
	for partition, summary := range summaries {
		byPartition[fmt.Sprint(partition)] = summary
	}
	result["partitions"] = byPartition
	if len(failures) > 0 {
		result["failures"] = firstOf(failures, 20)
		return fmt.Errorf("%d of %d records not acknowledged; first: %s", *count-acked, *count, failures[0])
	}
	if acked != *count {
		return fmt.Errorf("%d of %d records acknowledged", acked, *count)
	}
	return nil
}

func firstOf(items []string, n int) []string {
	if len(items) > n {
		return items[:n]
	}
	return items
}

// consumedRecord is [offset, key, value, timestamp (ms), header "index"].
type consumedRecord [5]interface{}

type partitionResult struct {
	HighWatermark int64            `json:"high_watermark"`
	Records       []consumedRecord `json:"records"`
}

// consume reads every partition of the topic from the oldest offset up to the high watermark it finds at
// the start, with one partition consumer per partition.
func consume(result map[string]interface{}) error {
	c := config()
	client, err := sarama.NewClient([]string{*bootstrap}, c)
	if err != nil {
		return fmt.Errorf("client: %v", err)
	}
	defer client.Close()
	ids, err := client.Partitions(*topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %v", *topic, err)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("consumer: %v", err)
	}
	defer consumer.Close()

	byPartition := map[string]*partitionResult{}
	result["partitions"] = byPartition
	total := 0
	for _, partition := range ids {
		oldest, err := client.GetOffset(*topic, partition, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("oldest offset of %s/%d: %v", *topic, partition, err)
		}
		newest, err := client.GetOffset(*topic, partition, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("newest offset of %s/%d: %v", *topic, partition, err)
		}
		partitionResult := &partitionResult{HighWatermark: newest, Records: []consumedRecord{}}
		byPartition[fmt.Sprint(partition)] = partitionResult
		if newest <= oldest {
			continue
		}
		partitionConsumer, err := consumer.ConsumePartition(*topic, partition, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("consume %s/%d: %v", *topic, partition, err)
		}
		for {
			var message *sarama.ConsumerMessage
			select {
			case message = <-partitionConsumer.Messages():
			case consumerError := <-partitionConsumer.Errors():
				partitionConsumer.Close()
				return fmt.Errorf("consume %s/%d: %v", *topic, partition, consumerError.Err)
			}
			index := ""
			for _, header := range message.Headers {
				if string(header.Key) == "index" {
					index = string(header.Value)
				}
			}
			timestamp := int64(-1)
			if !message.Timestamp.IsZero() {
				timestamp = message.Timestamp.UnixNano() / int64(time.Millisecond)
			}
			partitionResult.Records = append(partitionResult.Records,
				consumedRecord{message.Offset, string(message.Key), string(message.Value), timestamp, index})
			total++
			if message.Offset >= newest-1 {
				break
			}
		}
		if err := partitionConsumer.Close(); err != nil {
			return fmt.Errorf("close consumer of %s/%d: %v", *topic, partition, err)
		}
	}
	result["count"] = total
	if *expect >= 0 && total != *expect {
		return fmt.Errorf("read %d records, expected %d", total, *expect)
	}
	return nil
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: sarama-client produce|consume [flags]")
		flag.PrintDefaults()
	}
	if len(os.Args) < 2 {
		flag.Usage()
		os.Exit(2)
	}
	command = os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	if *topic == "" {
		fmt.Fprintln(os.Stderr, "sarama-client: -topic is required")
		os.Exit(2)
	}
	result := map[string]interface{}{"command": command, "topic": *topic}
	time.AfterFunc(*timeout, func() {
		// A fresh object: the run may still be filling in result.
		emit(map[string]interface{}{"command": command, "topic": *topic}, fmt.Errorf("timed out after %v (is the broker at %s alive?)", *timeout, *bootstrap))
	})
	var err error
	switch command {
	case "produce":
		err = produce(result)
	case "consume":
		err = consume(result)
	default:
		err = fmt.Errorf("unknown command %q", command)
	}
	emit(result, err)
}
