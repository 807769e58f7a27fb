package dev.alto.runtime;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.util.Map;

/** The {@link Context} given to the handler for one invocation. */
final class InvocationContext implements Context {
    // Per-environment values, read once.
    static final String FUNCTION_NAME = System.getenv("AWS_LAMBDA_FUNCTION_NAME");
    static final String FUNCTION_VERSION = System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
    static final String LOG_GROUP = System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
    static final String LOG_STREAM = System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
    static final int MEMORY_MB = parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 128);

    private final RuntimeApi.Invocation inv;
    private final LambdaLogger logger;
    private CognitoIdentity identity;
    private ClientContext clientContext;
    private boolean parsed;

    InvocationContext(RuntimeApi.Invocation inv, LambdaLogger logger) {
        this.inv = inv;
        this.logger = logger;
    }

    private static int parseInt(String s, int dflt) {
        if (s == null) {
            return dflt;
        }
        try {
            return Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    @Override
    public String getAwsRequestId() {
        return inv.requestId;
    }

    @Override
    public String getLogGroupName() {
        return LOG_GROUP;
    }

    @Override
    public String getLogStreamName() {
        return LOG_STREAM;
    }

    @Override
    public String getFunctionName() {
        return FUNCTION_NAME;
    }

    @Override
    public String getFunctionVersion() {
        return FUNCTION_VERSION;
    }

    @Override
    public String getInvokedFunctionArn() {
        return inv.functionArn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        parseHeaders();
        return identity;
    }

    @Override
    public ClientContext getClientContext() {
        parseHeaders();
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        if (inv.deadlineMs <= 0) {
            return Integer.MAX_VALUE; // no deadline given
        }
        long left = inv.deadlineMs - System.currentTimeMillis();
        return left <= 0 ? 0 : (left >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) left);
    }

    @Override
    public int getMemoryLimitInMB() {
        return MEMORY_MB;
    }

    @Override
    public LambdaLogger getLogger() {
        return logger;
    }

    @Override
    public String getXrayTraceId() {
        return inv.traceId;
    }

    @Override
    public String getTenantId() {
        return inv.tenantId;
    }

    /** The identity and client-context headers are JSON; parsed on first use only. Bad JSON gives null. */
    private void parseHeaders() {
        if (parsed) {
            return;
        }
        parsed = true;
        Map<?, ?> id = jsonObject(inv.cognitoIdentity);
        if (id != null) {
            identity = new Identity(str(id.get("cognitoIdentityId")), str(id.get("cognitoIdentityPoolId")));
        }
        Map<?, ?> cc = jsonObject(inv.clientContext);
        if (cc != null) {
            Map<?, ?> c = cc.get("client") instanceof Map ? (Map<?, ?>) cc.get("client") : null;
            Client client = c == null ? null
                    : new ClientInfo(str(c.get("installation_id")), str(c.get("app_title")),
                            str(c.get("app_version_name")), str(c.get("app_version_code")),
                            str(c.get("app_package_name")));
            clientContext = new ClientCtx(client, stringMap(cc.get("custom")), stringMap(cc.get("env")));
        }
    }

    private static Map<?, ?> jsonObject(String s) {
        if (s == null || s.isEmpty()) {
            return null;
        }
        try {
            Object v = Json.parse(s);
            return v instanceof Map ? (Map<?, ?>) v : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    private static Map<String, String> stringMap(Object o) {
        if (!(o instanceof Map)) {
            return null;
        }
        java.util.LinkedHashMap<String, String> m = new java.util.LinkedHashMap<String, String>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
            m.put(String.valueOf(e.getKey()), str(e.getValue()));
        }
        return m;
    }

    private static final class Identity implements CognitoIdentity {
        private final String id;
        private final String pool;

        Identity(String id, String pool) {
            this.id = id;
            this.pool = pool;
        }

        @Override
        public String getIdentityId() {
            return id;
        }

        @Override
        public String getIdentityPoolId() {
            return pool;
        }
    }

    private static final class ClientCtx implements ClientContext {
        private final Client client;
        private final Map<String, String> custom;
        private final Map<String, String> env;

        ClientCtx(Client client, Map<String, String> custom, Map<String, String> env) {
            this.client = client;
            this.custom = custom;
            this.env = env;
        }

        @Override
        public Client getClient() {
            return client;
        }

        @Override
        public Map<String, String> getCustom() {
            return custom;
        }

        @Override
        public Map<String, String> getEnvironment() {
            return env;
        }
    }

    private static final class ClientInfo implements Client {
        private final String installationId;
        private final String appTitle;
        private final String versionName;
        private final String versionCode;
        private final String packageName;

        ClientInfo(String installationId, String appTitle, String versionName, String versionCode,
                String packageName) {
            this.installationId = installationId;
            this.appTitle = appTitle;
            this.versionName = versionName;
            this.versionCode = versionCode;
            this.packageName = packageName;
        }

        @Override
        public String getInstallationId() {
            return installationId;
        }

        @Override
        public String getAppTitle() {
            return appTitle;
        }

        @Override
        public String getAppVersionName() {
            return versionName;
        }

        @Override
        public String getAppVersionCode() {
            return versionCode;
        }

        @Override
        public String getAppPackageName() {
            return packageName;
        }
    }
}
