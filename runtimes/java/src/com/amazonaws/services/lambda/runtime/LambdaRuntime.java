package com.amazonaws.services.lambda.runtime;

import java.io.IOException;

/** Gives access to the global Lambda logger (the one {@link Context#getLogger()} returns). */
public final class LambdaRuntime {
    private LambdaRuntime() {
    }

    // Replaced by the Alto runtime at startup (same field name as aws-lambda-java-core).
    private static volatile LambdaLogger logger = new LambdaLogger() {
        public void log(String message) {
            System.out.print(message);
        }

        public void log(byte[] message) {
            try {
                System.out.write(message);
            } catch (IOException e) {
                e.printStackTrace();
            }
        }
    };

    /** Returns the global Lambda logger. */
    public static LambdaLogger getLogger() {
        return logger;
    }
}
