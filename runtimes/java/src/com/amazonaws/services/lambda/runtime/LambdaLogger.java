package com.amazonaws.services.lambda.runtime;

import com.amazonaws.services.lambda.runtime.logging.LogLevel;

/** A low level logger writing to the function's log. Same methods as aws-lambda-java-core's LambdaLogger. */
public interface LambdaLogger {

    /** Logs a string. */
    void log(String message);

    /** Logs a byte array. */
    void log(byte[] message);

    /** Logs a string at a level. */
    default void log(String message, LogLevel logLevel) {
        log(message);
    }

    /** Logs a byte array at a level. */
    default void log(byte[] message, LogLevel logLevel) {
        log(message);
    }
}
