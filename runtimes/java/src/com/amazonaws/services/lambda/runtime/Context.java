package com.amazonaws.services.lambda.runtime;

/**
 * Information about the invocation, the function and the execution environment.
 * Same methods as aws-lambda-java-core's Context.
 */
public interface Context {

    /** The request ID of this invocation (the same ID the caller of Invoke sees). */
    String getAwsRequestId();

    /** The log group of the function (may be null). */
    String getLogGroupName();

    /** The log stream of this execution environment (may be null). */
    String getLogStreamName();

    /** The name of the function. */
    String getFunctionName();

    /** The version of the function being executed. */
    String getFunctionVersion();

    /** The ARN used to invoke the function (may carry a version or alias qualifier). */
    String getInvokedFunctionArn();

    /** Amazon Cognito identity of the caller, or null. */
    CognitoIdentity getIdentity();

    /** Client context passed by the caller, or null. */
    ClientContext getClientContext();

    /** Milliseconds left before the invocation times out. */
    int getRemainingTimeInMillis();

    /** The memory size configured for the function, in MB. */
    int getMemoryLimitInMB();

    /** The logger of this invocation. */
    LambdaLogger getLogger();

    /** The X-Ray trace header of this invocation, or null (newer aws-lambda-java-core releases). */
    default String getXrayTraceId() {
        return null;
    }

    /** The tenant ID of this invocation, or null (newer aws-lambda-java-core releases). */
    default String getTenantId() {
        return null;
    }
}
