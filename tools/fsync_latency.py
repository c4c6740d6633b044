#!/usr/bin/env python3
"""The data directory's disk as a durable log sees it: appends of 4 KiB, each followed by fdatasync, for a
few seconds; prints how long each append + fdatasync took (p50, p99, p99.9, max in ms).

`make bench` runs it next to the end-to-end run: with acks=all a record becomes visible to consumers only
after the flush that covers it, so the disk's flush tail bounds the end-to-end tail, and on a shared VM
that tail moves by orders of magnitude from one minute to the next.

usage: fsync_latency.py DIRECTORY [SECONDS]
"""
import os
import sys
import time


def percentile(ordered, fraction):
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main():
    directory = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
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
    samples.sort()
    print(f"fdatasync 4 KiB appends: {len(samples)} in {seconds:.0f} s, p50 {percentile(samples, 0.5):.2f} ms, "
          f"p99 {percentile(samples, 0.99):.2f} ms, p99.9 {percentile(samples, 0.999):.2f} ms, max {samples[-1]:.2f} ms")


if __name__ == "__main__":
    main()
