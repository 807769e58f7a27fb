package dev.alto.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;

/**
 * The user's handler, resolved once at init like the AWS Java runtime does: {@code pkg.Class::method} by
 * reflection over the public methods of that name (longest signature first, Context counting double,
 * bridge methods last), {@code pkg.Class} through RequestStreamHandler/RequestHandler (else its
 * {@code handleRequest} method).
 */
final class Handler {
    /** A handler that cannot be loaded: reported on /runtime/init/error. */
    static final class InitError extends Exception {
        private static final long serialVersionUID = 1L;
        final String errorType;

        InitError(String errorType, String message, Throwable cause) {
            super(message, cause);
            this.errorType = errorType;
        }
    }

    private static final int STREAM = 0; // RequestStreamHandler
    private static final int POJO = 1; // RequestHandler<I, O>
    private static final int METHOD = 2; // any other method, called by reflection

    private static final byte[] JSON_NULL = {'n', 'u', 'l', 'l'};

    private final int kind;
    private final Object instance;
    private final Method method; // METHOD only
    private final int[] args; // METHOD only: what each parameter receives (ARG_*)
    private final Type inputType; // POJO/METHOD: null when the method takes no event
    private final boolean exactDecimals;
    private final Type outputType; // null for void
    private final boolean writesStream; // METHOD: takes an OutputStream

    private static final int ARG_EVENT = 0;
    private static final int ARG_INPUT_STREAM = 1;
    private static final int ARG_OUTPUT_STREAM = 2;
    private static final int ARG_CONTEXT = 3;

    private Handler(int kind, Object instance, Method method, int[] args, Type inputType, Type outputType) {
        this.kind = kind;
        this.instance = instance;
        this.method = method;
        this.args = args;
        this.inputType = inputType;
        this.exactDecimals = inputType != null && !Json.isPlainJsonType(inputType);
        this.outputType = outputType;
        boolean ws = false;
        if (args != null) {
            for (int a : args) {
                ws |= a == ARG_OUTPUT_STREAM;
            }
        }
        this.writesStream = ws;
    }

    // ------------------------------------------------------------------------------------------ loading

    static Handler load(String handler, ClassLoader loader) throws InitError {
        if (handler == null) {
            handler = "";
        }
        handler = handler.trim();
        int sep = handler.lastIndexOf("::");
        String className = sep < 0 ? handler : handler.substring(0, sep);
        String methodName = sep < 0 ? null : handler.substring(sep + 2);
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            throw new InitError("Runtime.MalformedHandlerName", "Invalid handler: `" + handler + "'", null);
        }
        Class<?> c;
        try {
            c = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new InitError(e.getClass().getName(), "Class not found: " + className, e);
        } catch (Throwable t) { // static initializer failed, NoClassDefFoundError, bad class version...
            throw new InitError(t.getClass().getName(),
                    "Error loading class " + className + (t.getMessage() == null ? "" : ": " + t.getMessage()), t);
        }
        if (methodName == null) {
            if (RequestStreamHandler.class.isAssignableFrom(c)) {
                return new Handler(STREAM, newInstance(c), null, null, null, null);
            }
            if (RequestHandler.class.isAssignableFrom(c)) {
                Type[] io = Json.typeArguments(c, RequestHandler.class);
                Type in = io == null ? Object.class : io[0];
                Type out = io == null ? Object.class : io[1];
                return new Handler(POJO, newInstance(c), null, null, in, isVoid(out) ? null : out);
            }
            methodName = "handleRequest"; // Alto extension: AWS requires one of the two interfaces here
            Handler h = fromMethods(c, methodName);
            if (h == null) {
                throw new InitError("Runtime.HandlerNotFound",
                        "Class does not implement an appropriate handler interface: " + c.getName(), null);
            }
            return h;
        }
        Handler h = fromMethods(c, methodName);
        if (h == null) {
            throw new InitError("Runtime.HandlerNotFound", "No public method named " + methodName
                    + " with appropriate method signature found on class " + c.getName(), null);
        }
        return h;
    }

    private static boolean isVoid(Type t) {
        return t == void.class || t == Void.class;
    }

    private static boolean isContext(Class<?> c) {
        return c == Context.class;
    }

    private static int weight(Method m) {
        Class<?>[] p = m.getParameterTypes();
        return p.length + (p.length > 0 && isContext(p[p.length - 1]) ? 1 : 0);
    }

    private static final Comparator<Method> PRIORITY = new Comparator<Method>() {
        @Override
        public int compare(Method a, Method b) {
            if (a.isBridge() != b.isBridge()) {
                return a.isBridge() ? 1 : -1;
            }
            return Integer.compare(weight(b), weight(a));
        }
    };

    private static Handler fromMethods(Class<?> c, String name) throws InitError {
        ArrayList<Method> candidates = new ArrayList<Method>();
        for (Method m : c.getMethods()) {
            if (m.getName().equals(name)) {
                candidates.add(m);
            }
        }
        Method[] sorted = candidates.toArray(new Method[0]);
        Arrays.sort(sorted, PRIORITY);
        for (Method m : sorted) {
            int[] args = signature(m.getParameterTypes());
            if (args == null) {
                continue;
            }
            Type in = null;
            for (int i = 0; i < args.length; i++) {
                if (args[i] == ARG_EVENT) {
                    in = m.getGenericParameterTypes()[i];
                }
            }
            Type out = m.getGenericReturnType();
            Object instance = Modifier.isStatic(m.getModifiers()) ? null : newInstance(c);
            if (!Modifier.isPublic(c.getModifiers())) {
                m.trySetAccessible();
            }
            return new Handler(METHOD, instance, m, args, in, isVoid(out) ? null : out);
        }
        return null;
    }

    /**
     * The supported parameter lists, as in the AWS runtime: (), (X), (X, Context), (Context), (InputStream),
     * (OutputStream), (InputStream, OutputStream), (InputStream, Context), (OutputStream, Context),
     * (InputStream, OutputStream, Context), where X is any other type (the JSON event).
     */
    private static int[] signature(Class<?>[] p) {
        int[] a = new int[p.length];
        for (int i = 0; i < p.length; i++) {
            a[i] = p[i] == InputStream.class ? ARG_INPUT_STREAM : p[i] == OutputStream.class ? ARG_OUTPUT_STREAM
                    : isContext(p[i]) ? ARG_CONTEXT : ARG_EVENT;
        }
        switch (p.length) {
            case 0:
            case 1:
                return a;
            case 2:
                if (a[0] == ARG_INPUT_STREAM && (a[1] == ARG_OUTPUT_STREAM || a[1] == ARG_CONTEXT)) {
                    return a;
                }
                if ((a[0] == ARG_OUTPUT_STREAM || a[0] == ARG_EVENT) && a[1] == ARG_CONTEXT) {
                    return a;
                }
                return null;
            case 3:
                return a[0] == ARG_INPUT_STREAM && a[1] == ARG_OUTPUT_STREAM && a[2] == ARG_CONTEXT ? a : null;
            default:
                return null;
        }
    }

    private static Object newInstance(Class<?> c) throws InitError {
        Constructor<?> k;
        try {
            k = c.getConstructor();
        } catch (NoSuchMethodException e) {
            String why = c.getEnclosingClass() != null && !Modifier.isStatic(c.getModifiers())
                    ? " cannot be instantiated because it is a non-static inner class"
                    : " has no public zero-argument constructor";
            throw new InitError("java.lang.Exception", "Class " + c.getName() + why, e);
        }
        if (!Modifier.isPublic(c.getModifiers())) {
            k.trySetAccessible();
        }
        try {
            return k.newInstance();
        } catch (InvocationTargetException e) {
            Throwable t = e.getCause() == null ? e : e.getCause();
            throw new InitError(t.getClass().getName(),
                    t.getLocalizedMessage() == null ? t.getClass().getName() : t.getLocalizedMessage(), t);
        } catch (ReflectiveOperationException e) {
            throw new InitError(e.getClass().getName(), "Class " + c.getName() + " cannot be instantiated: "
                    + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------------------------------ calling

    /** Runs the handler on one event and returns the response bytes. Throws what the handler throws. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    byte[] invoke(byte[] event, Context ctx) throws Throwable {
        if (kind == STREAM) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
            ((RequestStreamHandler) instance).handleRequest(new ByteArrayInputStream(event), out, ctx);
            return out.toByteArray();
        }
        Object input = inputType == null ? null : decode(event);
        if (kind == POJO) {
            return encode(((RequestHandler) instance).handleRequest(input, ctx));
        }
        ByteArrayOutputStream out = writesStream ? new ByteArrayOutputStream(1024) : null;
        Object[] values = new Object[args.length];
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case ARG_EVENT:
                    values[i] = input;
                    break;
                case ARG_INPUT_STREAM:
                    values[i] = new ByteArrayInputStream(event);
                    break;
                case ARG_OUTPUT_STREAM:
                    values[i] = out;
                    break;
                default:
                    values[i] = ctx;
            }
        }
        Object result;
        try {
            result = method.invoke(instance, values);
        } catch (InvocationTargetException e) {
            throw e.getCause() != null ? e.getCause() : e;
        }
        return out != null ? out.toByteArray() : encode(result);
    }

    private Object decode(byte[] event) {
        try {
            String text = new String(event, StandardCharsets.UTF_8);
            if (text.isBlank()) {
                return Json.convert(null, inputType);
            }
            return Json.convert(Json.parse(text, exactDecimals), inputType);
        } catch (Throwable t) {
            throw new RuntimeException("An error occurred during JSON parsing", t);
        }
    }

    private byte[] encode(Object result) {
        if (outputType == null) {
            return JSON_NULL;
        }
        try {
            return Json.write(result).getBytes(StandardCharsets.UTF_8);
        } catch (Throwable t) {
            throw new RuntimeException("An error occurred during JSON serialization of response", t);
        }
    }
}
