package com.amazonaws.services.lambda.runtime;

/**
 * A handler whose input and output are (de)serialized from/to JSON by the runtime.
 *
 * @param <I> the input type
 * @param <O> the output type
 */
public interface RequestHandler<I, O> {
    /**
     * Handles a Lambda function request.
     *
     * @param input the event
     * @param context the invocation context
     * @return the result, serialized to JSON
     */
    O handleRequest(I input, Context context);
}
