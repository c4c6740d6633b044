// A minimal JSON writer for the interop programs (no JSON library on the classpath): Maps, Lists, arrays of
// strings or numbers, Strings, Numbers, Booleans and null. Each program prints one JSON object per line on
// stdout, which tests/interop/test_java_client.py parses; the Kafka client's own logging goes to stderr.

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Json {
    private Json() {}

    /** An ordered map from alternating keys and values: obj("a", 1, "b", "x"). */
    static Map<String, Object> obj(Object... keysAndValues) {
        if (keysAndValues.length % 2 != 0) throw new IllegalArgumentException("odd number of arguments");
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return map;
    }

    /** Prints one JSON line and flushes, so that a reader sees it at once. */
    static synchronized void emit(Object value) {
        System.out.println(write(value));
        System.out.flush();
    }

    /** The exception as {"class", "message", "cause_class", "cause_message"} (the root cause). */
    static Map<String, Object> error(Throwable error) {
        Throwable root = error;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        List<String> chain = new ArrayList<>();
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) chain.add(t.getClass().getName());
        return obj("class", error.getClass().getName(), "message", String.valueOf(error.getMessage()),
                "cause_class", root.getClass().getName(), "cause_message", String.valueOf(root.getMessage()),
                "chain", chain);
    }

    static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String) {
            string((String) value, out);
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long || value instanceof Short
                || value instanceof Byte) {
            out.append(value);
        } else if (value instanceof Number) {
            double d = ((Number) value).doubleValue();
            out.append(Double.isFinite(d) ? value.toString() : "null");
        } else if (value instanceof Map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                if (!first) out.append(',');
                first = false;
                string(String.valueOf(entry.getKey()), out);
                out.append(':');
                write(entry.getValue(), out);
            }
            out.append('}');
        } else if (value instanceof Collection) {
            out.append('[');
            boolean first = true;
            for (Object item : (Collection<?>) value) {
                if (!first) out.append(',');
                first = false;
                write(item, out);
            }
            out.append(']');
        } else if (value instanceof Object[]) {
            write(Arrays.asList((Object[]) value), out);
        } else if (value instanceof int[]) {
            write(Arrays.stream((int[]) value).boxed().toList(), out);
        } else if (value instanceof long[]) {
            write(Arrays.stream((long[]) value).boxed().toList(), out);
        } else {
            string(value.toString(), out);
        }
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
            }
        }
        out.append('"');
    }

    /** Ends the process after `seconds` whatever it is doing, with a message: nothing hangs a test. */
    static void watchdog(String program, long seconds) {
        Thread thread = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000);
            } catch (InterruptedException e) {
                return;
            }
            emit(obj("event", "watchdog", "message", program + " still running after " + seconds + " s; exiting"));
            System.err.println(program + ": still running after " + seconds + " s; exiting");
            Runtime.getRuntime().halt(124);
        }, "watchdog");
        thread.setDaemon(true);
        thread.start();
    }
}
