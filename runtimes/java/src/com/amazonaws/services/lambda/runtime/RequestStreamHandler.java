package com.amazonaws.services.lambda.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/** A handler that reads the raw event bytes and writes the raw response bytes. */
public interface RequestStreamHandler {
    /**
     * Handles a Lambda function request.
     *
     * @param input the raw event
     * @param output where the response is written
     * @param context the invocation context
     * @throws IOException on I/O failure
     */
    void handleRequest(InputStream input, OutputStream output, Context context) throws IOException;
}
