package dev.alto.runtime;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.io.PrintStream;

/**
 * The LambdaLogger of the function: writes to stdout (the function's log), one record per call. A newline is
 * added when the message has none, so that consecutive calls stay separate records, as they are on AWS.
 * Leveled calls are written as "[LEVEL] message" (AWS text log format) and filtered by AWS_LAMBDA_LOG_LEVEL.
 */
final class FunctionLogger implements LambdaLogger {
    private static final int UNSET = -1;
    private int minLevel = UNSET - 1; // resolved on first leveled call

    @Override
    public void log(String message) {
        String m = message == null ? "null" : message;
        PrintStream out = System.out;
        synchronized (out) {
            out.print(m);
            if (!m.endsWith("\n")) {
                out.print('\n');
            }
            out.flush();
        }
    }

    @Override
    public void log(byte[] message) {
        if (message == null) {
            log("null");
            return;
        }
        PrintStream out = System.out;
        synchronized (out) {
            out.write(message, 0, message.length);
            if (message.length == 0 || message[message.length - 1] != '\n') {
                out.write('\n');
            }
            out.flush();
        }
    }

    @Override
    public void log(String message, LogLevel level) {
        if (!enabled(level)) {
            return;
        }
        log(level == null || level == LogLevel.UNDEFINED ? message : "[" + level + "] " + message);
    }

    @Override
    public void log(byte[] message, LogLevel level) {
        if (!enabled(level)) {
            return;
        }
        if (level == null || level == LogLevel.UNDEFINED || message == null) {
            log(message);
        } else {
            log("[" + level + "] " + new String(message, java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    private boolean enabled(LogLevel level) {
        if (level == null || level == LogLevel.UNDEFINED) {
            return true;
        }
        if (minLevel < UNSET) {
            String env = System.getenv("AWS_LAMBDA_LOG_LEVEL");
            int min = UNSET;
            if (env != null && !env.isEmpty()) {
                try {
                    min = LogLevel.fromString(env).ordinal();
                } catch (IllegalArgumentException e) {
                    min = UNSET;
                }
            }
            minLevel = min;
        }
        return minLevel == UNSET || level.ordinal() >= minLevel;
    }
}
