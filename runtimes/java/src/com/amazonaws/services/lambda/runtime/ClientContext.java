package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** Client application and device information passed by the caller of Invoke. */
public interface ClientContext {
    /** The client information provided by the AWS Mobile SDK. */
    Client getClient();

    /** Custom values set by the client application. */
    Map<String, String> getCustom();

    /** Environment information provided by the mobile SDK. */
    Map<String, String> getEnvironment();
}
