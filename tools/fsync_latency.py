#!/usr/bin/env python3
"""The data directory's disk as a durable log sees it, in two measurements of a few seconds each:

1. one file: appends of 4 KiB, each followed by fdatasync; how long each append + fdatasync took.
2. several files (a topic's partitions): a request writes 16 KiB to each of FILES files, at most every 0.2 ms,
   and is done when all of them are synced; each file has its own flusher that syncs whatever was written
   and goes again while more is waiting (group commit, as the server's partition logs do). How long from a
   request's writes until all its files were synced: the floor that the disk alone sets under an acks=all
   produce spread over that many partitions, before any network or processing.

`make bench` runs it next to the end-to-end runs: with acks=all a record becomes visible to consumers only
after the flush that covers it, so the disk's flush latency bounds the end-to-end latency, and on a shared VM
that tail moves by orders of magnitude from one minute to the next.

usage: fsync_latency.py DIRECTORY [SECONDS] [FILES]
"""
import os
import sys
import threading
import time


def percentile(ordered, fraction):
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(samples):
    samples.sort()
    return (f"p50 {percentile(samples, 0.5):.2f} ms, p99 {percentile(samples, 0.99):.2f} ms, "
            f"p99.9 {percentile(samples, 0.999):.2f} ms, max {samples[-1]:.2f} ms")


def one_file(directory, seconds):
    path = os.path.join(directory, f"fsync-probe-{os.getpid()}.tmp")
    block = os.urandom(4096)
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            os.write(fd, block)
            os.fdatasync(fd)
            samples.append((time.monotonic() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"fdatasync 4 KiB appends: {len(samples)} in {seconds:.0f} s, {summary(samples)}")


def several_files(directory, seconds, files, interval=0.0002, size=16384):
    paths = [os.path.join(directory, f"fsync-probe-{os.getpid()}-{i}.tmp") for i in range(files)]
    fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for path in paths]
    block = os.urandom(size)
    changed = threading.Condition()
    written = [0] * files  # the last request written to each file
    synced = [0] * files   # the last request synced in each file
    failures = []
    stopping = False

    def flusher(index):
        try:
            while True:
                with changed:
                    while written[index] == synced[index] and not stopping:
                        changed.wait()
                    if written[index] == synced[index]:
                        return
                    target = written[index]
                os.fdatasync(fds[index])
                with changed:
                    synced[index] = target
                    changed.notify_all()
        except OSError as error:
            with changed:
                failures.append(error)
                changed.notify_all()

    threads = [threading.Thread(target=flusher, args=(index,)) for index in range(files)]
    for thread in threads:
        thread.start()
    started_at = {}
    samples = []

    def collect():
        # The requests whose files are all synced (changed held).
        done = min(synced)
        for request in [pending for pending in started_at if pending <= done]:
            samples.append((time.monotonic() - started_at.pop(request)) * 1000)

    try:
        end = time.monotonic() + seconds
        due = time.monotonic()
        request = 0
        while time.monotonic() < end and not failures:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            due += interval
            request += 1
            started_at[request] = time.monotonic()
            for fd in fds:
                os.write(fd, block)
            with changed:
                for index in range(files):
                    written[index] = request
                changed.notify_all()
                collect()
        with changed:
            while min(synced) < request and not failures:
                changed.wait(0.001)
                collect()
            collect()
    finally:
        with changed:
            stopping = True
            changed.notify_all()
        for thread in threads:
            thread.join()
        for fd, path in zip(fds, paths):
            os.close(fd)
            os.unlink(path)
    if failures:
        raise failures[0]
    print(f"{files} files, 16 KiB to each per request, each file synced by its own flusher: "
          f"{len(samples)} requests in {seconds:.0f} s, until all synced {summary(samples)}")


def main():
    directory = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    one_file(directory, seconds)
    several_files(directory, seconds, files)


if __name__ == "__main__":
    main()
