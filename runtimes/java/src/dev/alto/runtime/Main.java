package dev.alto.runtime;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOError;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Field;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Alto's Java runtime: loads the handler named by _HANDLER from LAMBDA_TASK_ROOT, then loops on the Runtime
 * API (GET next, run the handler, POST response or error).
 *
 * <p>Errors follow the AWS Java runtime: a handler that cannot be loaded is posted to /runtime/init/error
 * (e.g. {"errorMessage":"Class not found: x.Y","errorType":"java.lang.ClassNotFoundException"}) and the
 * process exits with status 1; an exception thrown by the handler is posted to /invocation/{id}/error as
 * {"errorMessage","errorType","stackTrace":["frame",...]} with errorType the exception's class name. The
 * Lambda-Runtime-Function-Error-Type header is Runtime.BadFunctionCode (load failures) or
 * Runtime.UserException (handler exceptions), as the AWS runtime sends.
 */
public final class Main {
    private Main() {
    }

    static final String INIT_ERROR_HEADER = "Runtime.BadFunctionCode";
    static final String INVOKE_ERROR_HEADER = "Runtime.UserException";
    private static final String RUNTIME_PACKAGE = "dev.alto.runtime.";
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";

    public static void main(String[] argv) {
        // The function's log is UTF-8 whatever the locale (as on AWS, where the runtime does the same).
        System.setOut(new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 8192),
                true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.err), 8192),
                true, StandardCharsets.UTF_8));
        String api = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == null || api.isEmpty()) {
            System.err.println("alto-java-runtime: AWS_LAMBDA_RUNTIME_API is not set");
            System.exit(1);
        }
        String handlerName = argv.length > 0 ? argv[0] : System.getenv("_HANDLER");
        RuntimeApi runtime = new RuntimeApi(api);
        runtime.warmUp();
        LambdaLogger logger = new FunctionLogger();
        installGlobalLogger(logger);

        Handler handler;
        try {
            ClassLoader loader = customerClassLoader();
            Thread.currentThread().setContextClassLoader(loader);
            handler = Handler.load(handlerName, loader);
        } catch (Handler.InitError e) {
            reportInitError(runtime, e);
            System.exit(1);
            return;
        } catch (Throwable t) {
            reportInitError(runtime, new Handler.InitError(t.getClass().getName(), message(t), t));
            System.exit(1);
            return;
        }
        loop(runtime, handler, logger);
    }

    private static void loop(RuntimeApi runtime, Handler handler, LambdaLogger logger) {
        while (true) {
            RuntimeApi.Invocation inv;
            try {
                inv = runtime.next();
            } catch (Throwable t) {
                System.err.println("alto-java-runtime: cannot get the next invocation: " + t);
                System.exit(1);
                return;
            }
            if (inv.traceId != null) {
                System.setProperty(TRACE_PROPERTY, inv.traceId);
            } else {
                System.clearProperty(TRACE_PROPERTY);
            }
            byte[] response;
            try {
                response = handler.invoke(inv.body, new InvocationContext(inv, logger));
            } catch (Throwable t) {
                boolean fatal = t instanceof VirtualMachineError || t instanceof IOError;
                reportInvokeError(runtime, inv.requestId, t);
                if (fatal) {
                    System.exit(1);
                }
                continue;
            }
            flushLogs();
            try {
                runtime.respond(inv.requestId, response);
            } catch (RuntimeApi.ApiException e) {
                // e.g. 413 (response too large) or 400 (invocation already timed out): the server
                // reports it to the caller; the runtime carries on unless the server is broken.
                System.err.println("alto-java-runtime: " + e.getMessage());
                if (e.status >= 500 || e.status < 0) {
                    System.exit(1);
                }
            } catch (Throwable t) {
                System.err.println("alto-java-runtime: cannot post the response: " + t);
                System.exit(1);
            }
            Thread.interrupted(); // clear an interrupt left over by user code
        }
    }

    // ------------------------------------------------------------------------------------------ setup

    /** Points LambdaRuntime.getLogger() at the function logger (the field AWS's runtime sets too). */
    private static void installGlobalLogger(LambdaLogger logger) {
        try {
            Field f = LambdaRuntime.class.getDeclaredField("logger");
            f.setAccessible(true);
            f.set(null, logger);
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.err.println("alto-java-runtime: cannot install the global logger: " + e);
        }
    }

    /**
     * The function's class path, as on AWS: the task root (classes at the root, e.g. an unpacked jar),
     * then lib/*.jar, then any *.jar at the root, each group in name order. The parent is the runtime's
     * loader, so com.amazonaws.services.lambda.runtime.* always resolve to this runtime's copies.
     */
    static ClassLoader customerClassLoader() throws Exception {
        String root = System.getenv("LAMBDA_TASK_ROOT");
        if (root == null || root.isEmpty()) {
            root = System.getProperty("user.dir");
        }
        File rootDir = new File(root);
        ArrayList<URL> urls = new ArrayList<URL>();
        urls.add(rootDir.toURI().toURL());
        addJars(new File(rootDir, "lib"), urls);
        addJars(rootDir, urls);
        return new URLClassLoader(urls.toArray(new URL[0]), Main.class.getClassLoader());
    }

    private static void addJars(File dir, ArrayList<URL> urls) throws Exception {
        String[] names = dir.list();
        if (names == null) {
            return;
        }
        Arrays.sort(names);
        for (String n : names) {
            if (n.endsWith(".jar")) {
                File f = new File(dir, n);
                if (f.isFile()) {
                    urls.add(f.toURI().toURL());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------ errors

    private static void reportInitError(RuntimeApi runtime, Handler.InitError e) {
        Throwable cause = e.getCause();
        if (cause != null) {
            filterStackTrace(cause);
        }
        // Logged like the AWS runtime: "<message>: <type>\n<stack trace>".
        System.err.print(e.getMessage() + ": " + e.errorType + "\n" + (cause == null ? "" : trace(cause)) + "\n");
        flushLogs();
        // Like AWS, load failures carry no stackTrace in the posted body.
        String body = errorJson(e.getMessage(), e.errorType, null);
        try {
            runtime.initError(body.getBytes(StandardCharsets.UTF_8), INIT_ERROR_HEADER);
        } catch (Throwable t) {
            System.err.println("alto-java-runtime: cannot post the init error: " + t);
        }
    }

    private static void reportInvokeError(RuntimeApi runtime, String requestId, Throwable t) {
        String body;
        try {
            filterStackTrace(t);
            String msg = message(t);
            System.err.print(msg + ": " + t.getClass().getName() + "\n" + trace(t) + "\n");
            body = errorJson(msg, t.getClass().getName(), t.getStackTrace());
        } catch (Throwable again) { // e.g. OutOfMemoryError while formatting
            body = "{\"errorMessage\":\"" + t.getClass().getName() + "\",\"errorType\":\"" + t.getClass().getName()
                    + "\",\"stackTrace\":[]}";
        }
        flushLogs();
        try {
            runtime.fail(requestId, body.getBytes(StandardCharsets.UTF_8), INVOKE_ERROR_HEADER);
        } catch (RuntimeApi.ApiException e) {
            System.err.println("alto-java-runtime: " + e.getMessage());
            if (e.status >= 500 || e.status < 0) {
                System.exit(1);
            }
        } catch (Throwable e) {
            System.err.println("alto-java-runtime: cannot post the error: " + e);
            System.exit(1);
        }
    }

    static String message(Throwable t) {
        String m = t.getLocalizedMessage();
        return m == null ? t.getClass().getName() : m;
    }

    static String errorJson(String message, String type, StackTraceElement[] stack) {
        StringBuilder b = new StringBuilder(256);
        b.append("{\"errorMessage\":");
        Json.quote(b, message);
        b.append(",\"errorType\":");
        Json.quote(b, type);
        if (stack != null) {
            b.append(",\"stackTrace\":[");
            for (int i = 0; i < stack.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                Json.quote(b, stack[i].toString());
            }
            b.append(']');
        }
        return b.append('}').toString();
    }

    private static String trace(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    /**
     * Cuts the runtime's own frames (and the reflection frames that called into user code) off the stack
     * traces of t, its causes and suppressed exceptions.
     */
    static void filterStackTrace(Throwable t) {
        filterStackTrace(t, new HashSet<Throwable>());
    }

    private static void filterStackTrace(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < st.length; i++) {
            if (st[i].getClassName().startsWith(RUNTIME_PACKAGE)) {
                int end = i;
                while (end > 0 && isReflection(st[end - 1].getClassName())) {
                    end--;
                }
                t.setStackTrace(Arrays.copyOf(st, end));
                break;
            }
        }
        filterStackTrace(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            filterStackTrace(s, seen);
        }
    }

    private static boolean isReflection(String cls) {
        return cls.startsWith("jdk.internal.reflect.") || cls.equals("java.lang.reflect.Method")
                || cls.equals("java.lang.reflect.Constructor");
    }

    private static void flushLogs() {
        System.out.flush();
        System.err.flush();
    }
}
