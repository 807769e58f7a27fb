package com.amazonaws.services.lambda.runtime;

/** Client application information, part of {@link ClientContext}. */
public interface Client {
    String getInstallationId();

    String getAppTitle();

    String getAppVersionName();

    String getAppVersionCode();

    String getAppPackageName();
}
