package dev.alto.runtime;

import java.lang.annotation.Annotation;
import java.lang.reflect.AnnotatedElement;
import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Calendar;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.ListIterator;
import java.util.Locale;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TimeZone;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * A small JSON parser, serializer and data binder (JDK only).
 *
 * <p>Parsing gives LinkedHashMap, ArrayList, String, Integer/Long/BigInteger, Double (or BigDecimal in
 * exact mode), Boolean and null. Binding follows the defaults of the AWS Java runtime's Jackson setup where
 * it is cheap to do so: public setters and public fields (plus Jackson's @JsonProperty/@JsonIgnore), records,
 * unknown properties ignored, nulls left out when writing POJOs, getters/is-getters and public fields read.
 */
final class Json {
    private Json() {
    }

    static final int MAX_DEPTH = 1000;

    // ------------------------------------------------------------------------------------------ parsing

    /** Parses JSON text. {@code exactDecimals} gives BigDecimal instead of Double for non-integers. */
    static Object parse(String text, boolean exactDecimals) {
        Parser p = new Parser(text, exactDecimals);
        p.skipWs();
        Object v = p.value(0);
        p.skipWs();
        if (p.pos < text.length()) {
            throw p.error("unexpected data after the JSON value");
        }
        return v;
    }

    static Object parse(String text) {
        return parse(text, false);
    }

    private static final class Parser {
        final String s;
        final int n;
        final boolean exact;
        int pos;

        Parser(String s, boolean exact) {
            this.s = s;
            this.n = s.length();
            this.exact = exact;
            // A UTF-8 byte order mark is tolerated.
            if (n > 0 && s.charAt(0) == '\uFEFF') {
                pos = 1;
            }
        }

        IllegalArgumentException error(String what) {
            return new IllegalArgumentException("Invalid JSON at offset " + pos + ": " + what);
        }

        void skipWs() {
            while (pos < n) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        Object value(int depth) {
            if (pos >= n) {
                throw error("unexpected end of input");
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth + 1);
                case '[':
                    return array(depth + 1);
                case '"':
                    return string();
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                case 'n':
                    literal("null");
                    return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw error("unexpected character '" + c + "'");
            }
        }

        void literal(String word) {
            if (!s.startsWith(word, pos)) {
                throw error("invalid literal");
            }
            pos += word.length();
        }

        Map<String, Object> object(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            pos++; // {
            LinkedHashMap<String, Object> m = new LinkedHashMap<String, Object>();
            skipWs();
            if (pos < n && s.charAt(pos) == '}') {
                pos++;
                return m;
            }
            while (true) {
                skipWs();
                if (pos >= n || s.charAt(pos) != '"') {
                    throw error("expected a string key");
                }
                String key = string();
                skipWs();
                if (pos >= n || s.charAt(pos) != ':') {
                    throw error("expected ':'");
                }
                pos++;
                skipWs();
                m.put(key, value(depth));
                skipWs();
                if (pos >= n) {
                    throw error("unexpected end of input in object");
                }
                char c = s.charAt(pos++);
                if (c == '}') {
                    return m;
                }
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or '}'");
                }
            }
        }

        List<Object> array(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            pos++; // [
            ArrayList<Object> l = new ArrayList<Object>();
            skipWs();
            if (pos < n && s.charAt(pos) == ']') {
                pos++;
                return l;
            }
            while (true) {
                skipWs();
                l.add(value(depth));
                skipWs();
                if (pos >= n) {
                    throw error("unexpected end of input in array");
                }
                char c = s.charAt(pos++);
                if (c == ']') {
                    return l;
                }
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or ']'");
                }
            }
        }

        String string() {
            int start = ++pos; // opening quote
            // Fast path: no escapes.
            while (pos < n) {
                char c = s.charAt(pos);
                if (c == '"') {
                    return s.substring(start, pos++);
                }
                if (c == '\\' || c < 0x20) {
                    break;
                }
                pos++;
            }
            StringBuilder b = new StringBuilder(pos - start + 16);
            b.append(s, start, pos);
            while (true) {
                if (pos >= n) {
                    throw error("unterminated string");
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    pos--;
                    throw error("unescaped control character in string");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (pos >= n) {
                    throw error("unterminated escape");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"':
                    case '\\':
                    case '/':
                        b.append(e);
                        break;
                    case 'b':
                        b.append('\b');
                        break;
                    case 'f':
                        b.append('\f');
                        break;
                    case 'n':
                        b.append('\n');
                        break;
                    case 'r':
                        b.append('\r');
                        break;
                    case 't':
                        b.append('\t');
                        break;
                    case 'u':
                        if (pos + 4 > n) {
                            throw error("truncated \\u escape");
                        }
                        int cp = 0;
                        for (int k = 0; k < 4; k++) {
                            int d = Character.digit(s.charAt(pos + k), 16);
                            if (d < 0) {
                                throw error("invalid \\u escape");
                            }
                            cp = (cp << 4) | d;
                        }
                        pos += 4;
                        b.append((char) cp); // surrogate pairs come out right as two UTF-16 units
                        break;
                    default:
                        pos--;
                        throw error("invalid escape '\\" + e + "'");
                }
            }
        }

        Object number() {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int intStart = pos;
            if (pos < n && s.charAt(pos) == '0') {
                pos++;
            } else {
                digits();
            }
            boolean integral = true;
            if (pos < n && s.charAt(pos) == '.') {
                pos++;
                integral = false;
                digits();
            }
            if (pos < n && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                pos++;
                integral = false;
                if (pos < n && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                digits();
            }
            String t = s.substring(start, pos);
            if (!integral) {
                if (exact) {
                    return new BigDecimal(t);
                }
                return Double.valueOf(t);
            }
            if (pos - intStart <= 18) {
                long v = Long.parseLong(t);
                if (v == (int) v) {
                    return Integer.valueOf((int) v);
                }
                return Long.valueOf(v);
            }
            BigInteger big = new BigInteger(t);
            if (big.bitLength() < 64) {
                return Long.valueOf(big.longValue());
            }
            return big;
        }

        void digits() {
            int start = pos;
            while (pos < n) {
                char c = s.charAt(pos);
                if (c < '0' || c > '9') {
                    break;
                }
                pos++;
            }
            if (pos == start) {
                throw error("invalid number");
            }
        }
    }

    // ------------------------------------------------------------------------------------------ writing

    static String write(Object value) {
        StringBuilder b = new StringBuilder(256);
        write(b, value, 0);
        return b.toString();
    }

    static void write(StringBuilder b, Object v, int depth) {
        if (depth > MAX_DEPTH) {
            throw new IllegalStateException("JSON nesting deeper than " + MAX_DEPTH + " (self-reference?)");
        }
        if (v == null) {
            b.append("null");
        } else if (v instanceof String) {
            quote(b, (String) v);
        } else if (v instanceof Boolean) {
            b.append(((Boolean) v).booleanValue() ? "true" : "false");
        } else if (v instanceof Number) {
            writeNumber(b, (Number) v);
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                Object k = e.getKey();
                quote(b, k instanceof Enum ? ((Enum<?>) k).name() : String.valueOf(k));
                b.append(':');
                write(b, e.getValue(), depth + 1);
            }
            b.append('}');
        } else if (v instanceof Character || v instanceof CharSequence) {
            quote(b, v.toString());
        } else if (v instanceof Enum) {
            quote(b, ((Enum<?>) v).name());
        } else if (v instanceof byte[]) {
            quote(b, Base64.getEncoder().encodeToString((byte[]) v));
        } else if (v instanceof char[]) {
            quote(b, new String((char[]) v));
        } else if (v.getClass().isArray()) {
            b.append('[');
            int len = Array.getLength(v);
            for (int i = 0; i < len; i++) {
                if (i > 0) {
                    b.append(',');
                }
                write(b, Array.get(v, i), depth + 1);
            }
            b.append(']');
        } else if (v instanceof Date) {
            b.append(((Date) v).getTime());
        } else if (v instanceof Calendar) {
            b.append(((Calendar) v).getTimeInMillis());
        } else if (v instanceof Optional) {
            write(b, ((Optional<?>) v).orElse(null), depth);
        } else if (isStringLike(v)) {
            quote(b, v instanceof Class ? ((Class<?>) v).getName()
                    : v instanceof TimeZone ? ((TimeZone) v).getID() : v.toString());
        } else if (v instanceof Iterable) {
            b.append('[');
            boolean first = true;
            for (Iterator<?> it = ((Iterable<?>) v).iterator(); it.hasNext();) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(b, it.next(), depth + 1);
            }
            b.append(']');
        } else {
            writeBean(b, v, depth);
        }
    }

    /** Types written as their string form (ISO text for java.time). */
    private static boolean isStringLike(Object v) {
        if (v instanceof UUID || v instanceof Class || v instanceof Locale || v instanceof TimeZone
                || v instanceof java.time.temporal.TemporalAccessor || v instanceof java.time.temporal.TemporalAmount
                || v instanceof java.time.ZoneId || v instanceof java.net.URI || v instanceof java.net.URL
                || v instanceof java.nio.file.Path || v instanceof java.io.File
                || v instanceof java.nio.charset.Charset || v instanceof java.util.regex.Pattern) {
            return true;
        }
        return false;
    }

    private static void writeNumber(StringBuilder b, Number n) {
        if (n instanceof Double || n instanceof Float) {
            double d = n.doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                quote(b, n.toString()); // like Jackson's WRITE_NAN_AS_STRINGS
                return;
            }
        }
        b.append(n.toString());
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    static void quote(StringBuilder b, String s) {
        b.append('"');
        int n = s.length();
        int run = 0; // start of the pending run of plain characters
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            String rep = null;
            boolean hex = false;
            if (c < 0x20) {
                switch (c) {
                    case '\n':
                        rep = "\\n";
                        break;
                    case '\r':
                        rep = "\\r";
                        break;
                    case '\t':
                        rep = "\\t";
                        break;
                    case '\b':
                        rep = "\\b";
                        break;
                    case '\f':
                        rep = "\\f";
                        break;
                    default:
                        hex = true;
                }
            } else if (c == '"') {
                rep = "\\\"";
            } else if (c == '\\') {
                rep = "\\\\";
            } else if (Character.isSurrogate(c)) {
                // Keep valid pairs as they are; escape lone surrogates so nothing is lost in UTF-8.
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                    continue;
                }
                hex = true;
            } else {
                continue;
            }
            b.append(s, run, i);
            if (hex) {
                b.append("\\u").append(HEX[(c >> 12) & 15]).append(HEX[(c >> 8) & 15])
                        .append(HEX[(c >> 4) & 15]).append(HEX[c & 15]);
            } else {
                b.append(rep);
            }
            run = i + 1;
        }
        b.append(s, run, n);
        b.append('"');
    }

    // ------------------------------------------------------------------------------------------ beans

    /** One JSON property of a class: how to read it and how to write it. */
    private static final class Prop {
        final String name;
        Method getter;
        Field getField;
        Method setter;
        Field setField;

        Prop(String name) {
            this.name = name;
        }

        Object get(Object o) throws ReflectiveOperationException {
            return getter != null ? getter.invoke(o) : getField.get(o);
        }

        Type setType() {
            return setter != null ? setter.getGenericParameterTypes()[0] : setField.getGenericType();
        }

        void set(Object o, Object v) throws ReflectiveOperationException {
            if (setter != null) {
                setter.invoke(o, v);
            } else {
                setField.set(o, v);
            }
        }
    }

    private static final class BeanInfo {
        final List<Prop> readable = new ArrayList<Prop>();
        final Map<String, Prop> writable = new HashMap<String, Prop>();
        final Map<String, Prop> writableLower = new HashMap<String, Prop>();
        Constructor<?> ctor;
        Throwable ctorProblem;
    }

    private static final Map<Class<?>, BeanInfo> BEANS = new ConcurrentHashMap<Class<?>, BeanInfo>();

    private static final String JSON_PROPERTY = "com.fasterxml.jackson.annotation.JsonProperty";
    private static final String JSON_IGNORE = "com.fasterxml.jackson.annotation.JsonIgnore";

    /** Jackson annotations, read by name so that Jackson need not be present: null = ignored, "" = no rename. */
    private static String annotatedName(AnnotatedElement e) {
        String name = "";
        for (Annotation a : e.getDeclaredAnnotations()) {
            String t = a.annotationType().getName();
            if (t.equals(JSON_IGNORE)) {
                if (!Boolean.FALSE.equals(annotationValue(a))) {
                    return null;
                }
            } else if (t.equals(JSON_PROPERTY)) {
                Object v = annotationValue(a);
                if (v instanceof String) {
                    name = (String) v;
                }
            }
        }
        return name;
    }

    private static Object annotationValue(Annotation a) {
        try {
            return a.annotationType().getMethod("value").invoke(a);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static boolean hasAnnotation(AnnotatedElement e, String type) {
        for (Annotation a : e.getDeclaredAnnotations()) {
            if (a.annotationType().getName().equals(type)) {
                return true;
            }
        }
        return false;
    }

    /** java.beans-style decapitalization, as Jackson's USE_STD_BEAN_NAMING: getURL -> URL, getName -> name. */
    static String decapitalize(String s) {
        if (s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isUpperCase(s.charAt(1))) {
            return s;
        }
        return Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }

    private static boolean accessible(java.lang.reflect.AccessibleObject m) {
        try {
            return m.trySetAccessible();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static BeanInfo bean(Class<?> c) {
        BeanInfo info = BEANS.get(c);
        if (info == null) {
            info = introspect(c);
            BEANS.put(c, info);
        }
        return info;
    }

    private static BeanInfo introspect(Class<?> c) {
        BeanInfo info = new BeanInfo();
        LinkedHashMap<String, Prop> props = new LinkedHashMap<String, Prop>();

        // Fields, superclass first: they give the property order (Jackson orders by field declaration).
        ArrayList<Class<?>> chain = new ArrayList<Class<?>>();
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            chain.add(0, k);
        }
        HashMap<String, String> fieldToProp = new HashMap<String, String>();
        for (Class<?> k : chain) {
            for (Field f : k.getDeclaredFields()) {
                int mod = f.getModifiers();
                if (Modifier.isStatic(mod) || Modifier.isTransient(mod) || f.isSynthetic()) {
                    continue;
                }
                String ann = annotatedName(f);
                if (ann == null) {
                    props.put(f.getName(), null); // explicitly ignored
                    continue;
                }
                String name = ann.isEmpty() ? f.getName() : ann;
                fieldToProp.put(f.getName(), name);
                Prop p = props.get(name);
                if (p == null) {
                    p = new Prop(name);
                    props.put(name, p);
                }
                boolean visible = Modifier.isPublic(mod) || hasAnnotation(f, JSON_PROPERTY);
                if (visible && accessible(f)) {
                    p.getField = f;
                    if (!Modifier.isFinal(mod)) {
                        p.setField = f;
                    }
                }
            }
        }
        // Getters and setters.
        for (Method m : c.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.isBridge() || m.isSynthetic()
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            String mn = m.getName();
            int argc = m.getParameterCount();
            String base = null;
            boolean isGetter = false;
            if (argc == 0 && m.getReturnType() != void.class) {
                if (mn.length() > 3 && mn.startsWith("get")) {
                    base = mn.substring(3);
                    isGetter = true;
                } else if (mn.length() > 2 && mn.startsWith("is")
                        && (m.getReturnType() == boolean.class || m.getReturnType() == Boolean.class)) {
                    base = mn.substring(2);
                    isGetter = true;
                }
            } else if (argc == 1 && mn.length() > 3 && mn.startsWith("set")) {
                base = mn.substring(3);
            }
            if (base == null) {
                continue;
            }
            String name = decapitalize(base);
            String ann = annotatedName(m);
            if (ann == null) {
                props.put(name, null);
                continue;
            }
            if (!ann.isEmpty()) {
                name = ann;
            } else if (fieldToProp.containsKey(name)) {
                name = fieldToProp.get(name); // a field renamed with @JsonProperty renames its accessors
            }
            if (props.containsKey(name) && props.get(name) == null) {
                continue; // ignored
            }
            Prop p = props.get(name);
            if (p == null) {
                p = new Prop(name);
                props.put(name, p);
            }
            if (!accessible(m) && !Modifier.isPublic(c.getModifiers())) {
                continue;
            }
            if (isGetter) {
                if (p.getter == null) {
                    p.getter = m;
                }
            } else if (p.setter == null || m.getParameterTypes()[0] == String.class) {
                p.setter = m; // among overloaded setters prefer the String one, like Jackson
            }
        }
        for (Prop p : props.values()) {
            if (p == null) {
                continue;
            }
            if (p.getter != null || p.getField != null) {
                info.readable.add(p);
            }
            if (p.setter != null || p.setField != null) {
                info.writable.put(p.name, p);
                info.writableLower.putIfAbsent(p.name.toLowerCase(Locale.ROOT), p);
            }
        }
        try {
            if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
                throw new IllegalArgumentException("Cannot construct instance of " + c.getName()
                        + ": abstract types need a concrete class");
            }
            if (c.getEnclosingClass() != null && !Modifier.isStatic(c.getModifiers())) {
                throw new IllegalArgumentException("Cannot construct instance of " + c.getName()
                        + ": it is a non-static inner class");
            }
            Constructor<?> k = c.getDeclaredConstructor();
            accessible(k);
            info.ctor = k;
        } catch (NoSuchMethodException e) {
            info.ctorProblem = new IllegalArgumentException("Cannot construct instance of " + c.getName()
                    + ": no zero-argument constructor");
        } catch (RuntimeException e) {
            info.ctorProblem = e;
        }
        return info;
    }

    private static void writeBean(StringBuilder b, Object v, int depth) {
        Class<?> c = v.getClass();
        b.append('{');
        boolean first = true;
        try {
            if (c.isRecord()) {
                for (RecordComponent rc : c.getRecordComponents()) {
                    Method acc = rc.getAccessor();
                    String ann = annotatedName(rc);
                    if (ann == null) {
                        continue;
                    }
                    accessible(acc);
                    Object pv = acc.invoke(v);
                    if (pv == null) {
                        continue;
                    }
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    quote(b, ann.isEmpty() ? rc.getName() : ann);
                    b.append(':');
                    write(b, pv, depth + 1);
                }
            } else {
                for (Prop p : bean(c).readable) {
                    Object pv = p.get(v);
                    if (pv == null) {
                        continue; // Include.NON_NULL
                    }
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    quote(b, p.name);
                    b.append(':');
                    write(b, pv, depth + 1);
                }
            }
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("getter of " + c.getName() + " failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read " + c.getName() + ": " + e, e);
        }
        b.append('}');
    }

    // ------------------------------------------------------------------------------------------ binding

    static Class<?> rawClass(Type t) {
        if (t instanceof Class) {
            return (Class<?>) t;
        }
        if (t instanceof ParameterizedType) {
            return rawClass(((ParameterizedType) t).getRawType());
        }
        if (t instanceof GenericArrayType) {
            return Array.newInstance(rawClass(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
        }
        if (t instanceof TypeVariable) {
            Type[] bounds = ((TypeVariable<?>) t).getBounds();
            return bounds.length > 0 ? rawClass(bounds[0]) : Object.class;
        }
        if (t instanceof WildcardType) {
            Type[] up = ((WildcardType) t).getUpperBounds();
            return up.length > 0 ? rawClass(up[0]) : Object.class;
        }
        return Object.class;
    }

    /**
     * The type arguments of {@code target} (a generic class or interface) as seen from {@code type}, e.g.
     * RequestHandler's &lt;I,O&gt; for a handler class. Null if {@code type} is not a {@code target}.
     * Type variables bound along the way are substituted (one level deep).
     */
    static Type[] typeArguments(Type type, Class<?> target) {
        return typeArguments(type, target, new HashMap<TypeVariable<?>, Type>());
    }

    private static Type[] typeArguments(Type type, Class<?> target, Map<TypeVariable<?>, Type> outer) {
        Class<?> raw = rawClass(type);
        if (!target.isAssignableFrom(raw)) {
            return null;
        }
        Map<TypeVariable<?>, Type> env = new HashMap<TypeVariable<?>, Type>();
        TypeVariable<?>[] params = raw.getTypeParameters();
        if (type instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) type).getActualTypeArguments();
            for (int i = 0; i < params.length && i < args.length; i++) {
                Type a = args[i];
                if (a instanceof TypeVariable && outer.containsKey(a)) {
                    a = outer.get(a);
                }
                env.put(params[i], a);
            }
        }
        if (raw == target) {
            Type[] out = new Type[params.length];
            for (int i = 0; i < params.length; i++) {
                Type a = env.get(params[i]);
                out[i] = a != null ? a : params[i];
            }
            return out;
        }
        for (Type sup : raw.getGenericInterfaces()) {
            Type[] r = typeArguments(sup, target, env);
            if (r != null) {
                return r;
            }
        }
        Type sup = raw.getGenericSuperclass();
        return sup != null ? typeArguments(sup, target, env) : null;
    }

    /** True when plain parsed JSON (Double numbers) already is the value for this type. */
    static boolean isPlainJsonType(Type t) {
        Class<?> raw = rawClass(t);
        if (raw == Object.class || raw == String.class || raw == Boolean.class || raw == boolean.class
                || raw == Integer.class || raw == int.class || raw == Long.class || raw == long.class
                || raw == Double.class || raw == double.class || raw == Number.class) {
            return true;
        }
        if (raw == Map.class || raw == LinkedHashMap.class || raw == HashMap.class) {
            Type[] a = typeArguments(t, Map.class);
            return a == null || (isStringOrObject(a[0]) && rawClass(a[1]) == Object.class);
        }
        if (raw == List.class || raw == ArrayList.class || raw == Collection.class || raw == Iterable.class) {
            Type[] a = typeArguments(t, Iterable.class);
            return a == null || rawClass(a[0]) == Object.class;
        }
        return false;
    }

    private static boolean isStringOrObject(Type t) {
        Class<?> r = rawClass(t);
        return r == String.class || r == Object.class;
    }

    /** Converts parsed JSON to {@code type}. */
    static Object convert(Object v, Type type) {
        Class<?> raw = rawClass(type);
        if (v == null) {
            return raw.isPrimitive() ? primitiveDefault(raw) : (raw == Optional.class ? Optional.empty() : null);
        }
        if (raw == Object.class) {
            return untyped(v);
        }
        if (raw == String.class) {
            if (v instanceof String) {
                return v;
            }
            if (v instanceof Number || v instanceof Boolean) {
                return v.toString();
            }
            if (v instanceof List && ((List<?>) v).size() == 1) {
                return convert(((List<?>) v).get(0), type);
            }
            throw mismatch(v, type);
        }
        if (raw.isPrimitive() || Number.class.isAssignableFrom(raw) || raw == Boolean.class
                || raw == Character.class) {
            return scalar(v, raw, type);
        }
        if (raw.isEnum()) {
            return toEnum(v, raw, type);
        }
        if (raw == Optional.class) {
            Type[] a = typeArguments(type, Optional.class);
            return Optional.ofNullable(convert(v, a == null ? Object.class : a[0]));
        }
        if (raw.isArray()) {
            return toArray(v, raw, type);
        }
        if (Collection.class.isAssignableFrom(raw) || raw == Iterable.class) {
            return toCollection(v, raw, type);
        }
        if (Map.class.isAssignableFrom(raw)) {
            return toMap(v, raw, type);
        }
        if (v instanceof String) {
            String s = (String) v;
            if (s.isEmpty()) {
                return null; // ACCEPT_EMPTY_STRING_AS_NULL_OBJECT
            }
            return fromString(s, raw, type);
        }
        if (v instanceof Number) {
            if (raw == Date.class) {
                return new Date(((Number) v).longValue());
            }
            if (raw == Calendar.class) {
                Calendar cal = Calendar.getInstance();
                cal.setTimeInMillis(((Number) v).longValue());
                return cal;
            }
            throw mismatch(v, type);
        }
        if (v instanceof List) {
            List<?> l = (List<?>) v;
            if (l.isEmpty()) {
                return null; // ACCEPT_EMPTY_ARRAY_AS_NULL_OBJECT
            }
            if (l.size() == 1) {
                return convert(l.get(0), type); // UNWRAP_SINGLE_VALUE_ARRAYS
            }
            throw mismatch(v, type);
        }
        if (v instanceof Map) {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = (Map<String, Object>) v;
            return raw.isRecord() ? toRecord(m, raw) : toBean(m, raw);
        }
        throw mismatch(v, type);
    }

    private static IllegalArgumentException mismatch(Object v, Type type) {
        String kind = v instanceof Map ? "an object" : v instanceof List ? "an array" : v instanceof String
                ? "a string" : v instanceof Boolean ? "a boolean" : "a number";
        return new IllegalArgumentException("Cannot convert " + kind + " to " + type.getTypeName());
    }

    private static Object primitiveDefault(Class<?> c) {
        if (c == boolean.class) {
            return Boolean.FALSE;
        }
        if (c == char.class) {
            return Character.valueOf('\0');
        }
        return scalar(Integer.valueOf(0), c, c);
    }

    /** Parsed JSON with exact decimals turned back into Doubles (what Object-typed values get). */
    @SuppressWarnings("unchecked")
    private static Object untyped(Object v) {
        if (v instanceof BigDecimal) {
            return Double.valueOf(((BigDecimal) v).doubleValue());
        }
        if (v instanceof Map) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                Object x = e.getValue();
                if (x instanceof BigDecimal || x instanceof Map || x instanceof List) {
                    e.setValue(untyped(x));
                }
            }
        } else if (v instanceof List) {
            for (ListIterator<Object> it = ((List<Object>) v).listIterator(); it.hasNext();) {
                Object x = it.next();
                if (x instanceof BigDecimal || x instanceof Map || x instanceof List) {
                    it.set(untyped(x));
                }
            }
        }
        return v;
    }

    private static Object scalar(Object v, Class<?> raw, Type type) {
        if (v instanceof List && ((List<?>) v).size() == 1) {
            return convert(((List<?>) v).get(0), type);
        }
        if (raw == boolean.class || raw == Boolean.class) {
            if (v instanceof Boolean) {
                return v;
            }
            if (v instanceof String) {
                String s = ((String) v).trim();
                if (s.equalsIgnoreCase("true")) {
                    return Boolean.TRUE;
                }
                if (s.equalsIgnoreCase("false")) {
                    return Boolean.FALSE;
                }
                if (s.isEmpty()) {
                    return raw.isPrimitive() ? Boolean.FALSE : null;
                }
            }
            if (v instanceof Number && !(v instanceof Double || v instanceof BigDecimal)) {
                return Boolean.valueOf(((Number) v).longValue() != 0);
            }
            throw mismatch(v, type);
        }
        if (raw == char.class || raw == Character.class) {
            if (v instanceof String && ((String) v).length() == 1) {
                return Character.valueOf(((String) v).charAt(0));
            }
            if (v instanceof Number) {
                return Character.valueOf((char) ((Number) v).intValue());
            }
            throw mismatch(v, type);
        }
        Number n;
        if (v instanceof Number) {
            n = (Number) v;
        } else if (v instanceof String) {
            String s = ((String) v).trim();
            if (s.isEmpty()) {
                return raw.isPrimitive() ? primitiveDefault(raw) : null;
            }
            try {
                n = new BigDecimal(s);
            } catch (NumberFormatException e) {
                if (s.equals("NaN") || s.equals("Infinity") || s.equals("-Infinity")) {
                    n = Double.valueOf(s);
                } else {
                    throw new IllegalArgumentException("Cannot convert string \"" + s + "\" to "
                            + type.getTypeName());
                }
            }
        } else {
            throw mismatch(v, type);
        }
        if (raw == int.class || raw == Integer.class) {
            return Integer.valueOf(n.intValue());
        }
        if (raw == long.class || raw == Long.class) {
            return Long.valueOf(n.longValue());
        }
        if (raw == double.class || raw == Double.class) {
            return Double.valueOf(n.doubleValue());
        }
        if (raw == float.class || raw == Float.class) {
            return Float.valueOf(n.floatValue());
        }
        if (raw == short.class || raw == Short.class) {
            return Short.valueOf(n.shortValue());
        }
        if (raw == byte.class || raw == Byte.class) {
            return Byte.valueOf(n.byteValue());
        }
        if (raw == BigDecimal.class) {
            if (n instanceof BigDecimal) {
                return n;
            }
            if (n instanceof BigInteger) {
                return new BigDecimal((BigInteger) n);
            }
            if (n instanceof Double || n instanceof Float) {
                return new BigDecimal(n.toString());
            }
            return BigDecimal.valueOf(n.longValue());
        }
        if (raw == BigInteger.class) {
            if (n instanceof BigInteger) {
                return n;
            }
            if (n instanceof BigDecimal) {
                return ((BigDecimal) n).toBigInteger();
            }
            if (n instanceof Double || n instanceof Float) {
                return new BigDecimal(n.toString()).toBigInteger();
            }
            return BigInteger.valueOf(n.longValue());
        }
        if (raw == Number.class) {
            return v instanceof Number ? untyped(v) : n;
        }
        if (raw == java.util.concurrent.atomic.AtomicInteger.class) {
            return new java.util.concurrent.atomic.AtomicInteger(n.intValue());
        }
        if (raw == java.util.concurrent.atomic.AtomicLong.class) {
            return new java.util.concurrent.atomic.AtomicLong(n.longValue());
        }
        throw mismatch(v, type);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object toEnum(Object v, Class<?> raw, Type type) {
        Object[] constants = raw.getEnumConstants();
        if (v instanceof String) {
            String s = (String) v;
            for (Object c : constants) {
                if (((Enum) c).name().equals(s)) {
                    return c;
                }
            }
            return null; // READ_UNKNOWN_ENUM_VALUES_AS_NULL
        }
        if (v instanceof Number) {
            int i = ((Number) v).intValue();
            return i >= 0 && i < constants.length ? constants[i] : null;
        }
        throw mismatch(v, type);
    }

    private static Object toArray(Object v, Class<?> raw, Type type) {
        Class<?> comp = raw.getComponentType();
        if (v instanceof String) {
            if (comp == byte.class) {
                return Base64.getMimeDecoder().decode((String) v);
            }
            if (comp == char.class) {
                return ((String) v).toCharArray();
            }
        }
        Type compType = type instanceof GenericArrayType ? ((GenericArrayType) type).getGenericComponentType() : comp;
        List<?> l = v instanceof List ? (List<?>) v : java.util.Collections.singletonList(v);
        Object arr = Array.newInstance(comp, l.size());
        for (int i = 0; i < l.size(); i++) {
            Array.set(arr, i, convert(l.get(i), compType));
        }
        return arr;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object toCollection(Object v, Class<?> raw, Type type) {
        Type[] a = typeArguments(type, Iterable.class);
        Type elem = a == null ? Object.class : a[0];
        List<?> l = v instanceof List ? (List<?>) v : java.util.Collections.singletonList(v);
        Collection out;
        if (raw.isInterface() || Modifier.isAbstract(raw.getModifiers())) {
            if (SortedSet.class.isAssignableFrom(raw)) {
                out = new TreeSet();
            } else if (Set.class.isAssignableFrom(raw)) {
                out = new LinkedHashSet();
            } else if (Queue.class.isAssignableFrom(raw)) {
                out = new ArrayDeque();
            } else {
                if (v instanceof ArrayList && rawClass(elem) == Object.class) {
                    return untyped(v);
                }
                out = new ArrayList(l.size());
            }
        } else {
            if (raw.isInstance(v) && rawClass(elem) == Object.class) {
                return untyped(v);
            }
            out = (Collection) newInstance(raw);
        }
        for (Object x : l) {
            out.add(convert(x, elem));
        }
        return out;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object toMap(Object v, Class<?> raw, Type type) {
        if (!(v instanceof Map)) {
            if (v instanceof String && ((String) v).isEmpty()) {
                return null;
            }
            throw mismatch(v, type);
        }
        Type[] a = typeArguments(type, Map.class);
        Type kt = a == null ? Object.class : a[0];
        Type vt = a == null ? Object.class : a[1];
        boolean plainKeys = isStringOrObject(kt);
        if (plainKeys && rawClass(vt) == Object.class && raw.isInstance(v)) {
            return untyped(v);
        }
        Map out;
        if (raw.isInterface() || Modifier.isAbstract(raw.getModifiers())) {
            if (SortedMap.class.isAssignableFrom(raw) || NavigableMap.class.isAssignableFrom(raw)) {
                out = new TreeMap();
            } else if (ConcurrentMap.class.isAssignableFrom(raw)) {
                out = new ConcurrentHashMap();
            } else {
                out = new LinkedHashMap();
            }
        } else {
            out = (Map) newInstance(raw);
        }
        for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
            Object k = plainKeys ? e.getKey() : convert(e.getKey(), kt);
            out.put(k, convert(e.getValue(), vt));
        }
        return out;
    }

    private static Object newInstance(Class<?> c) {
        try {
            Constructor<?> k = c.getDeclaredConstructor();
            accessible(k);
            return k.newInstance();
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException("Constructor of " + c.getName() + " failed: " + e.getCause(),
                    e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalArgumentException("Cannot construct instance of " + c.getName() + ": " + e, e);
        }
    }

    /** Strings become objects through the usual factories: UUID, valueOf/parse/fromString, String ctor. */
    private static Object fromString(String s, Class<?> raw, Type type) {
        if (raw == UUID.class) {
            return UUID.fromString(s);
        }
        if (raw == Date.class) {
            return Date.from(java.time.Instant.parse(s));
        }
        if (raw.isInstance(s)) {
            return s; // CharSequence, Comparable, Serializable...
        }
        String[] names = {"valueOf", "parse", "fromString", "of", "forName"};
        for (String name : names) {
            for (Class<?> p : new Class<?>[] {String.class, CharSequence.class}) {
                try {
                    Method m = raw.getMethod(name, p);
                    if (Modifier.isStatic(m.getModifiers()) && raw.isAssignableFrom(m.getReturnType())) {
                        return m.invoke(null, s);
                    }
                } catch (NoSuchMethodException e) {
                    // try the next one
                } catch (InvocationTargetException e) {
                    throw new IllegalArgumentException("Cannot convert \"" + s + "\" to " + raw.getName() + ": "
                            + e.getCause(), e.getCause());
                } catch (IllegalAccessException e) {
                    break;
                }
            }
        }
        try {
            Constructor<?> k = raw.getConstructor(String.class);
            return k.newInstance(s);
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException("Cannot convert \"" + s + "\" to " + raw.getName() + ": "
                    + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw mismatch(s, type);
        }
    }

    private static Object toRecord(Map<String, Object> m, Class<?> raw) {
        RecordComponent[] rcs = raw.getRecordComponents();
        Class<?>[] types = new Class<?>[rcs.length];
        Object[] args = new Object[rcs.length];
        HashMap<String, Object> lower = null;
        for (int i = 0; i < rcs.length; i++) {
            RecordComponent rc = rcs[i];
            types[i] = rc.getType();
            String ann = annotatedName(rc);
            String name = ann == null || ann.isEmpty() ? rc.getName() : ann;
            Object jv;
            if (ann == null) {
                jv = null;
            } else if (m.containsKey(name)) {
                jv = m.get(name);
            } else {
                if (lower == null) {
                    lower = new HashMap<String, Object>();
                    for (Map.Entry<String, Object> e : m.entrySet()) {
                        lower.putIfAbsent(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
                    }
                }
                jv = lower.get(name.toLowerCase(Locale.ROOT));
            }
            args[i] = convert(jv, rc.getGenericType());
        }
        try {
            Constructor<?> k = raw.getDeclaredConstructor(types);
            accessible(k);
            return k.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException("Constructor of " + raw.getName() + " failed: " + e.getCause(),
                    e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalArgumentException("Cannot construct record " + raw.getName() + ": " + e, e);
        }
    }

    private static Object toBean(Map<String, Object> m, Class<?> raw) {
        BeanInfo info = bean(raw);
        if (info.ctor == null) {
            if (info.ctorProblem instanceof RuntimeException) {
                throw (RuntimeException) info.ctorProblem;
            }
            throw new IllegalArgumentException("Cannot construct instance of " + raw.getName());
        }
        Object o;
        try {
            o = info.ctor.newInstance();
        } catch (InvocationTargetException e) {
            throw new IllegalArgumentException("Constructor of " + raw.getName() + " failed: " + e.getCause(),
                    e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalArgumentException("Cannot construct instance of " + raw.getName() + ": " + e, e);
        }
        for (Map.Entry<String, Object> e : m.entrySet()) {
            Prop p = info.writable.get(e.getKey());
            if (p == null) {
                // Case-insensitive fallback: lets e.g. {"Records": [...]} fill setRecords(...).
                p = info.writableLower.get(e.getKey().toLowerCase(Locale.ROOT));
                if (p == null) {
                    continue; // unknown properties are ignored
                }
            }
            try {
                p.set(o, convert(e.getValue(), p.setType()));
            } catch (InvocationTargetException ex) {
                throw new IllegalArgumentException("Setting property '" + p.name + "' of " + raw.getName()
                        + " failed: " + ex.getCause(), ex.getCause());
            } catch (ReflectiveOperationException ex) {
                throw new IllegalArgumentException("Cannot set property '" + p.name + "' of " + raw.getName()
                        + ": " + ex, ex);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("Property '" + e.getKey() + "' of " + raw.getName() + ": "
                        + ex.getMessage(), ex);
            }
        }
        return o;
    }
}
