package dev.alto.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;

/**
 * Client of the Lambda Runtime API (2018-06-01), on HttpURLConnection: it starts faster than java.net.http
 * (fewer classes, no selector thread) and keeps the connection alive between calls.
 */
final class RuntimeApi {
    static final String ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type";
    private static final String USER_AGENT = "alto-java-runtime/1.0 (Java " + System.getProperty("java.version") + ")";

    /** A failed call: a status other than the expected one, or none at all (status -1). */
    static final class ApiException extends IOException {
        private static final long serialVersionUID = 1L;
        final int status;

        ApiException(String what, int status, String body) {
            super(what + " -> HTTP " + status + (body == null || body.isEmpty() ? "" : ": " + body));
            this.status = status;
        }
    }

    /** One event from /next. */
    static final class Invocation {
        String requestId;
        long deadlineMs;
        String functionArn;
        String traceId;
        String clientContext;
        String cognitoIdentity;
        String tenantId;
        byte[] body;
    }

    private final String base;

    RuntimeApi(String hostPort) {
        this.base = "http://" + hostPort + "/2018-06-01/runtime/";
    }

    /**
     * On a multi-core machine, loads and initializes the HTTP client's classes (no request is made) and the
     * string concatenation bootstrap on a background thread, overlapping with loading the user's handler.
     * Measured on 2 cores: exec to first response -7 ms; on 1 core it would only compete, so it is skipped.
     */
    void warmUp() {
        if (Runtime.getRuntime().availableProcessors() < 2) {
            return;
        }
        Thread t = new Thread(new Runnable() {
            @Override
            public void run() {
                try {
                    HttpURLConnection c = open("invocation/next");
                    c.setRequestMethod("POST");
                    c.setDoOutput(true);
                    c.setFixedLengthStreamingMode(0);
                    c.getRequestProperty("User-Agent");
                    String[] classes = {"sun.net.www.http.HttpClient", "sun.net.www.http.KeepAliveCache",
                        "sun.nio.ch.NioSocketImpl", "java.net.Socket", "java.net.InetSocketAddress",
                        "sun.net.www.protocol.http.HttpURLConnection$StreamingOutputStream",
                        "sun.net.www.http.KeepAliveStream", "sun.net.www.MeteredStream"};
                    for (String name : classes) {
                        Class.forName(name, true, null);
                    }
                    // User code compiled by javac 9+ concatenates strings with invokedynamic: bootstrap the
                    // shared machinery now rather than in the first invocation.
                    java.lang.invoke.MethodHandles.Lookup lookup = java.lang.invoke.MethodHandles.lookup();
                    Class<?>[][] shapes = {{String.class}, {String.class, String.class}, {String.class, int.class},
                        {Object.class, String.class, long.class}};
                    for (Class<?>[] shape : shapes) {
                        StringBuilder recipe = new StringBuilder("x");
                        Object[] args = new Object[shape.length];
                        for (int i = 0; i < shape.length; i++) {
                            recipe.append('\u0001').append('y');
                            args[i] = shape[i] == int.class ? (Object) 1 : shape[i] == long.class ? (Object) 1L : "s";
                        }
                        java.lang.invoke.StringConcatFactory.makeConcatWithConstants(lookup, "concat",
                                java.lang.invoke.MethodType.methodType(String.class, shape), recipe.toString())
                                .dynamicInvoker().invokeWithArguments(args);
                    }
                } catch (Throwable ignored) {
                    // only an optimization
                }
            }
        }, "alto-warmup");
        t.setDaemon(true);
        t.start();
    }

    private HttpURLConnection open(String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(base + path).openConnection(Proxy.NO_PROXY);
        c.setRequestProperty("User-Agent", USER_AGENT);
        c.setConnectTimeout(5000);
        c.setReadTimeout(0); // /next blocks until an event comes: no timeout
        c.setUseCaches(false);
        return c;
    }

    /** GET /runtime/invocation/next: blocks until the next event. */
    Invocation next() throws IOException {
        HttpURLConnection c = open("invocation/next");
        int status = c.getResponseCode();
        if (status != 200) {
            throw new ApiException("GET /runtime/invocation/next", status, drain(c));
        }
        Invocation inv = new Invocation();
        inv.requestId = c.getHeaderField("Lambda-Runtime-Aws-Request-Id");
        String deadline = c.getHeaderField("Lambda-Runtime-Deadline-Ms");
        if (deadline != null) {
            try {
                inv.deadlineMs = Long.parseLong(deadline.trim());
            } catch (NumberFormatException e) {
                inv.deadlineMs = 0;
            }
        }
        inv.functionArn = c.getHeaderField("Lambda-Runtime-Invoked-Function-Arn");
        inv.traceId = c.getHeaderField("Lambda-Runtime-Trace-Id");
        inv.clientContext = c.getHeaderField("Lambda-Runtime-Client-Context");
        inv.cognitoIdentity = c.getHeaderField("Lambda-Runtime-Cognito-Identity");
        inv.tenantId = c.getHeaderField("Lambda-Runtime-Aws-Tenant-Id");
        long len = c.getContentLengthLong();
        try (InputStream in = c.getInputStream()) {
            inv.body = len >= 0 && len <= Integer.MAX_VALUE - 8 ? in.readNBytes((int) len) : in.readAllBytes();
        }
        if (inv.requestId == null || inv.requestId.isEmpty()) {
            throw new ApiException("GET /runtime/invocation/next: no Lambda-Runtime-Aws-Request-Id", status, null);
        }
        return inv;
    }

    /** POST /runtime/invocation/{id}/response. */
    void respond(String requestId, byte[] body) throws IOException {
        post("invocation/" + requestId + "/response", body, null);
    }

    /** POST /runtime/invocation/{id}/error. */
    void fail(String requestId, byte[] body, String errorType) throws IOException {
        post("invocation/" + requestId + "/error", body, errorType);
    }

    /** POST /runtime/init/error. */
    void initError(byte[] body, String errorType) throws IOException {
        post("init/error", body, errorType);
    }

    private void post(String path, byte[] body, String errorType) throws IOException {
        HttpURLConnection c = open(path);
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setFixedLengthStreamingMode(body.length);
        c.setRequestProperty("Content-Type", "application/json");
        if (errorType != null) {
            c.setRequestProperty(ERROR_TYPE_HEADER, errorType);
        }
        try (OutputStream out = c.getOutputStream()) {
            out.write(body);
        }
        int status = c.getResponseCode();
        String answer = drain(c);
        if (status != 202) {
            throw new ApiException("POST /runtime/" + path, status, answer);
        }
    }

    /** Reads and closes the answer so that the connection goes back to the keep-alive cache. */
    private static String drain(HttpURLConnection c) {
        InputStream in;
        try {
            in = c.getInputStream();
        } catch (IOException e) {
            in = c.getErrorStream();
        }
        if (in == null) {
            return "";
        }
        try (InputStream s = in) {
            byte[] b = s.readAllBytes();
            return new String(b, 0, Math.min(b.length, 1024), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
