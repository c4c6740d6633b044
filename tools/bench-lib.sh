# Shared by tools/bench.sh and tools/bench-tls.sh (sourced): a work directory removed at exit with the
# processes the script started (append their pids to PIDS) and any other directory it made (CLEAN_DIRS), and
# waiting for a loopback port.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tributary-bench.XXXXXX")
PIDS=()
CLEAN_DIRS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK" "${CLEAN_DIRS[@]}"
}
trap cleanup EXIT

wait_for_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}
