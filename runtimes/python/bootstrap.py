"""Alto Python runtime: a Lambda Runtime API (2018-06-01) client.

Started by Alto as ``/usr/bin/python3 -u $LAMBDA_RUNTIME_DIR/bootstrap.py``.
It loads the handler named by ``_HANDLER`` ("module.function", the module may
be a path such as "dir/file.handler") from ``$LAMBDA_TASK_ROOT``, then loops:
GET /next -> call handler -> POST /response or /error.

Error reporting follows AWS's awslambdaric so callers see the same shapes:
init failures go to /runtime/init/error (then exit 1) with errorType
Runtime.ImportModuleError / Runtime.UserCodeSyntaxError /
Runtime.HandlerNotFound / Runtime.MalformedHandlerName /
Runtime.BuiltInModuleConflict, or the exception's class name for any other
exception raised while importing; handler exceptions go to .../error with
errorType = the exception class name and stackTrace = list of strings.

Startup cost matters (it is on the cold-start path), so only what the loop
needs is imported here: json and _socket (os, sys and time are loaded by the
interpreter anyway). The HTTP client is a small one of its own: http.client
costs ~15-20 ms to import (it pulls in email.parser, ssl, ...), and the
socket module ~2 ms more than the C _socket module under it (it builds its
IntEnums at import). traceback is imported lazily on the error path, and the
stdlib logging module is never imported by the runtime itself; if user code
imports it, the runtime attaches an AWS-style handler to the root logger (see
_setup_logging).
"""

import _socket
import json
import os
import sys
import time

API_PREFIX = "/2018-06-01"

# Id of the invocation in progress ("" between invocations); read by the
# logging filter so `logging` records carry it like on AWS.
_request_id = ""
_logging_configured = False


class FaultError(Exception):
    """A runtime-detected failure with a Lambda errorType (Runtime.*)."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.msg = message
        self.trace = trace


# ---------------------------------------------------------------------------
# Runtime API client
# ---------------------------------------------------------------------------


class ProtocolError(Exception):
    """The Runtime API sent something that is not valid HTTP/1.1."""


# What a failed exchange with the Runtime API raises.
NET_ERRORS = (OSError, ProtocolError)

_MAX_LINE = 65536  # longest status/header line accepted, as http.client
_MAX_HEADERS = 200


class Headers(dict):
    """Response headers: lower-case name -> [value, ...] in received order.

    get() is case-insensitive and returns the first value, as http.client's
    message object does; get_all() returns them all.
    """

    def get(self, name, default=None):
        values = dict.get(self, name.lower())
        return values[0] if values else default

    def get_all(self, name):
        return dict.get(self, name.lower(), [])


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class RuntimeClient:
    """One persistent HTTP/1.1 keep-alive connection to the Runtime API.

    A minimal client on _socket (see the module docstring): requests carry
    Content-Length; responses may use Content-Length, chunked encoding or
    end at connection close. The socket is blocking with no timeout (GET
    /next is a long poll that may block for hours) and set so explicitly,
    since a new socket otherwise follows socket.setdefaulttimeout(), which
    user code is free to change.
    """

    def __init__(self, api):
        self.api = api  # "host:port" or "[v6]:port"; also the Host header
        self.sock = None
        self.buf = bytearray()  # received, not yet consumed

    def _connect(self):
        host, port = self.api, "80"
        i = host.rfind(":")
        if i > host.rfind("]"):
            host, port = host[:i], host[i + 1:] or "80"
        if host[:1] == "[" and host[-1:] == "]":
            host = host[1:-1]
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ProtocolError("bad port in AWS_LAMBDA_RUNTIME_API %r" % self.api)
        err = OSError("no address for %r" % host)
        # An ASCII host is passed as bytes: as a str it goes through the idna
        # codec, and importing encodings.idna costs ~0.5 ms.
        for family, kind, proto, _, addr in _socket.getaddrinfo(
            host.encode() if host.isascii() else host, int(port), 0, _socket.SOCK_STREAM
        ):
            sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(None)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.connect(addr)
                return sock
            except OSError as e:
                sock.close()
                err = e
        raise err

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf.clear()

    def _recv(self, size=65536):
        data = self.sock.recv(size)
        if not data:
            raise ConnectionResetError("connection closed by the Runtime API")
        self.buf += data

    def _line(self):
        """The next line, without CRLF (or a bare LF, accepted as http.client)."""
        buf = self.buf
        i = buf.find(b"\n")
        while i < 0:
            if len(buf) > _MAX_LINE:
                raise ProtocolError("line too long")
            start = len(buf)
            self._recv()
            i = buf.find(b"\n", start)
        if i > _MAX_LINE:
            raise ProtocolError("line too long")
        line = bytes(buf[: i - 1 if i and buf[i - 1] == 13 else i])
        del buf[: i + 1]
        return line

    def _exact(self, n):
        buf = self.buf
        if len(buf) >= n:
            data = bytes(buf[:n])
            del buf[:n]
            return data
        # A large body: receive straight into one buffer of the final size.
        out = bytearray(n)
        have = len(buf)
        out[:have] = buf
        buf.clear()
        view = memoryview(out)
        recv_into = self.sock.recv_into
        while have < n:
            got = recv_into(view[have:])
            if not got:
                raise ConnectionResetError("connection closed by the Runtime API")
            have += got
        view.release()
        return bytes(out)

    def _fields(self, headers):
        """Header (or trailer) lines up to the empty line, added to headers."""
        for _ in range(_MAX_HEADERS):
            line = self._line()
            if not line:
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("bad header line %r" % line[:100])
            headers.setdefault(name.lower(), []).append(value.strip(" \t"))
        raise ProtocolError("more than %d header lines" % _MAX_HEADERS)

    def _chunked(self, headers):
        parts = []
        while True:
            size = self._line().split(b";", 1)[0].strip(b" \t")  # drop extensions
            if not size or size.strip(b"0123456789abcdefABCDEF"):
                raise ProtocolError("bad chunk size %r" % size[:100])
            n = int(size, 16)
            if not n:
                self._fields(headers)  # trailers, merged into the headers
                return b"".join(parts)
            parts.append(self._exact(n))
            if self._line():
                raise ProtocolError("no CRLF after a chunk")

    def _response(self):
        """Read one response; return (Response, keep_alive)."""
        status = 100
        while 100 <= status < 200:  # skip interim 1xx answers
            line = self._line()
            parts = line.split(None, 2)
            if (len(parts) < 2 or not parts[0].startswith(b"HTTP/1.")
                    or len(parts[1]) != 3 or not parts[1].isdigit()):
                raise ProtocolError("bad status line %r" % line[:100])
            status = int(parts[1])
            headers = self._fields(Headers())
        tokens = ",".join(headers.get_all("connection")).lower().replace(" ", "").split(",")
        if parts[0] == b"HTTP/1.0":
            keep_alive = "keep-alive" in tokens
        else:
            keep_alive = "close" not in tokens
        te = ",".join(headers.get_all("transfer-encoding")).lower().replace(" ", "")
        lengths = {v.strip() for l in headers.get_all("content-length") for v in l.split(",")}
        if status in (204, 304):
            body = b""
        elif te == "chunked":
            body = self._chunked(headers)
        elif te or not lengths:
            # No length (or a coding other than plain chunked): the body runs
            # to the end of the connection.
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
            body = bytes(self.buf)
            self.buf.clear()
            keep_alive = False
        else:
            n = lengths.pop()
            if lengths or not (n.isascii() and n.isdigit()):
                raise ProtocolError("bad Content-Length %r" % headers.get_all("content-length"))
            body = self._exact(int(n))
        return Response(status, headers, body), keep_alive

    def request(self, method, path, body=None, headers=None):
        """Send a request (body: bytes or None); return (status, Response, body).

        On a connection failure the connection is re-opened and the request
        retried once (a keep-alive connection may have been closed by the
        server while the process was idle); a second failure is raised.
        """
        lines = ["%s %s%s HTTP/1.1" % (method, API_PREFIX, path), "Host: " + self.api]
        for name, value in (headers or {}).items():
            lines.append("%s: %s" % (name, value))
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        # No CR/LF or other control characters (header injection), no space
        # in the request target, ASCII only.
        for line in lines:
            if not (line.isascii() and line.isprintable()):
                raise ProtocolError("bad request line or header %r" % line[:200])
        if " " in path:
            raise ProtocolError("bad request path %r" % path[:200])
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        if body and len(body) <= 65536:
            head, body = head + body, None  # one send, one segment
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self.sock.sendall(head)
                if body:
                    self.sock.sendall(body)
                resp, keep_alive = self._response()
                if not keep_alive:
                    self.close()
                return resp.status, resp, resp.body
            except NET_ERRORS:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def next_invocation(self):
        status, resp, body = self.request("GET", "/runtime/invocation/next")
        if status != 200:
            raise RuntimeError(
                "GET /next returned HTTP %d: %r" % (status, body[:500])
            )
        return resp, body

    def _post(self, path, body, headers):
        try:
            status, _, data = self.request("POST", path, body, headers)
        except NET_ERRORS as e:
            _runtime_log("POST %s failed: %s" % (path, e))
            return
        if not 200 <= status < 300:
            # The Runtime API refused the result (e.g. 413 too large, 400
            # stale id). Nothing useful can be retried; log and go on.
            _runtime_log(
                "POST %s returned HTTP %d: %s"
                % (path, status, data[:500].decode("utf-8", "replace"))
            )

    def post_response(self, request_id, body, content_type):
        self._post(
            "/runtime/invocation/%s/response" % request_id,
            body,
            {"Content-Type": content_type},
        )

    def post_error(self, request_id, error):
        self._post(
            "/runtime/invocation/%s/error" % request_id,
            _error_body(error),
            _error_headers(error),
        )

    def post_init_error(self, error):
        self._post("/runtime/init/error", _error_body(error), _error_headers(error))


def _error_body(error):
    return json.dumps(error).encode("utf-8")


def _error_headers(error):
    # Header values must be plain printable ASCII; errorType is normally a
    # class name but comes from user code, so sanitize it.
    etype = "".join(c for c in error["errorType"] if " " < c < "\x7f")
    return {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": etype or "Unhandled",
    }


def _runtime_log(msg):
    sys.stderr.write("[alto-python-runtime] %s\n" % msg)


# ---------------------------------------------------------------------------
# Context object (mirrors awslambdaric.lambda_context.LambdaContext)
# ---------------------------------------------------------------------------


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client:
    __slots__ = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )


class ClientContext:
    __slots__ = ("custom", "env", "client")


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    get = d.get if isinstance(d, dict) else (lambda _k: None)
    for field in cls.__slots__:
        setattr(obj, field, get(field))
    return obj


class LambdaContext:
    def __init__(self, request_id, client_context, identity, deadline_ms,
                 invoked_function_arn, tenant_id):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        try:
            self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""))
        except ValueError:
            self.memory_limit_in_mb = None
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if isinstance(identity, dict):
            self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])"
            % (self.aws_request_id, self.log_group_name, self.log_stream_name,
               self.function_name, self.memory_limit_in_mb, self.function_version,
               self.invoked_function_arn, self.client_context, self.identity,
               self.tenant_id)
        )


def _parse_json_header(value, name):
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as e:
        raise FaultError(
            "Runtime.LambdaContextUnmarshalError",
            "Unable to parse %s JSON: %s" % (name, e),
        )


# ---------------------------------------------------------------------------
# Handler loading
# ---------------------------------------------------------------------------


def load_handler(handler):
    """Import the user module and return the handler callable (or raise FaultError)."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError(
            "Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e)
        )

    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module %s as a handler module" % modname,
        )
    try:
        # "dir/file" -> "dir.file", as AWS does.
        name = modname.replace("/", ".")
        if name.startswith("."):
            # Keep import_module's TypeError for a relative name.
            import importlib

            module = importlib.import_module(name)
        else:
            # Same as importlib.import_module for an absolute name, without
            # importing the importlib package (~0.3-0.5 ms; the interpreter
            # loads only its frozen core at startup).
            __import__(name)
            module = sys.modules[name]
    except ImportError as e:
        raise FaultError(
            "Runtime.ImportModuleError",
            "Unable to import module '%s': %s" % (modname, e),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultError(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '%s': %s" % (modname, e),
            trace,
        )
    # Any other exception raised by the module body propagates to the caller,
    # which reports it with the exception's own class name (as AWS does).

    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultError(
            "Runtime.HandlerNotFound",
            "Handler '%s' missing on module '%s'" % (fname, modname),
        )


# ---------------------------------------------------------------------------
# Errors and logging
# ---------------------------------------------------------------------------


def make_error(message, error_type, stack_trace, request_id=None):
    # Same keys and order as awslambdaric.bootstrap.make_error.
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id or "",
        "stackTrace": stack_trace or [],
    }


def error_from_exception(exc, request_id=None):
    """Error document for an arbitrary exception, with user frames only."""
    import traceback  # lazy: only needed on the error path

    frames = traceback.extract_tb(exc.__traceback__)
    # Drop the leading runtime frames (this file, and importlib's when the
    # exception came from the module body at init); keep everything from
    # the first user frame on. AWS's client only drops its own frames, so
    # its init traces also list ~7 importlib frames; they carry no
    # information for the user. Plain tuples are formatted (not
    # FrameSummary objects) so no "^^^^" caret lines appear, as on AWS.
    tuples = [(f.filename, f.lineno, f.name, f.line) for f in frames]
    for i, t in enumerate(tuples):
        name = t[0]
        if not (
            name.endswith("/bootstrap.py")
            or name.startswith("<frozen importlib")
            or name.endswith("/importlib/__init__.py")
        ):
            tuples = tuples[i:]
            break
    return make_error(
        str(exc), type(exc).__name__, traceback.format_list(tuples), request_id
    )


def log_error(error):
    """Write the error like AWS's text log format (one block on stdout)."""
    line = "[ERROR]"
    if error["errorType"]:
        line += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            line += ":"
        line += " " + error["errorMessage"]
    lines = [line, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        lines.extend(element.splitlines() if element else [""])
    # AWS joins with "\r" so CloudWatch keeps one event; Alto's log is plain
    # text viewed in terminals, where "\r" would overwrite lines, so use "\n".
    sys.stdout.write("\n".join(lines) + "\n")


def _setup_logging():
    """Attach an AWS-format handler to the root logger once `logging` is imported.

    Importing logging costs ~5 ms, so the runtime never imports it; this is
    called after the handler module is loaded and before each invoke until
    user code has imported it. If the user already configured the root
    logger (e.g. logging.basicConfig), their configuration is left alone.
    """
    global _logging_configured
    logging = sys.modules.get("logging")
    if logging is None:
        return
    _logging_configured = True
    root = logging.getLogger()
    if root.handlers:
        return

    def add_request_id(record):
        record.aws_request_id = _request_id
        return True

    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(add_request_id)
    root.addHandler(handler)


# ---------------------------------------------------------------------------
# Marshalling
# ---------------------------------------------------------------------------


def _json_default(obj):
    # Decimal support (DynamoDB results are full of them) without importing
    # decimal up front: if obj is a Decimal, the module is already loaded.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if not obj.is_finite():
            return float(obj)
        if obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def marshal_response(result):
    """Return (body bytes, content type) or raise FaultError(Runtime.MarshalError)."""
    if isinstance(result, bytes):
        # awslambdaric passes bytes through untouched.
        return result, "application/unknown"
    try:
        return (
            json.dumps(result, default=_json_default).encode("utf-8"),
            "application/json",
        )
    except Exception as e:
        raise FaultError(
            "Runtime.MarshalError", "Unable to marshal response: %s" % e
        )


def unmarshal_event(body, content_type):
    # A missing Content-Type is treated as JSON (Invoke payloads are JSON).
    if content_type and not content_type.startswith("application/json"):
        return body
    try:
        return json.loads(body)
    except ValueError as e:
        raise FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)


# ---------------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------------


def handle_invocation(client, handler, resp, body):
    global _request_id
    headers = resp.headers
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    _request_id = request_id

    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    if not _logging_configured:
        _setup_logging()

    error = None
    try:
        try:
            deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        except ValueError:
            deadline_ms = 0
        context = LambdaContext(
            request_id,
            _parse_json_header(headers.get("Lambda-Runtime-Client-Context"), "Client Context"),
            _parse_json_header(headers.get("Lambda-Runtime-Cognito-Identity"), "Cognito Identity"),
            deadline_ms,
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            headers.get("Lambda-Runtime-Aws-Tenant-Id"),
        )
        event = unmarshal_event(body, headers.get("Content-Type"))
        result = handler(event, context)
        payload, content_type = marshal_response(result)
    except FaultError as e:
        error = make_error(e.msg, e.error_type, e.trace, request_id)
    except Exception as e:
        error = error_from_exception(e, request_id)

    if error is not None:
        log_error(error)
        client.post_error(request_id, error)
    else:
        client.post_response(request_id, payload, content_type)
    _request_id = ""


def main():
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        _runtime_log("AWS_LAMBDA_RUNTIME_API is not set")
        sys.exit(1)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()

    # User code first on sys.path. Drop the entry Python added for this
    # script's own directory so the runtime dir never shadows user modules.
    runtime_dir = os.path.dirname(os.path.realpath(__file__))
    if sys.path and os.path.realpath(sys.path[0]) == runtime_dir:
        del sys.path[0]
    sys.path.insert(0, task_root)

    client = RuntimeClient(api)

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as e:
        error = make_error(e.msg, e.error_type, e.trace)
    except Exception as e:
        # Exception raised by the module body: reported with its own type.
        error = error_from_exception(e)
    else:
        error = None
    if error is not None:
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)

    _setup_logging()

    while True:
        try:
            resp, body = client.next_invocation()
        except Exception as e:
            # Connection refused/reset twice, or a non-200 (403/500 are
            # fatal per the Runtime API): the sandbox is gone or broken.
            _runtime_log("GET /next failed, exiting: %s" % e)
            sys.exit(1)
        handle_invocation(client, handler, resp, body)


def _await_function(fd):
    """Zygote mode (a stem cell): the interpreter and this module are up before
    the function is known. Alto writes the function's command and environment
    on fd as alto-init's records ("A<arg>\\0", "E<name=value>\\0", then EOF)
    once its code is mounted at /var/task; apply them as if we had been started
    with them."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    env = {}
    for record in b"".join(chunks).split(b"\0")[:-1]:
        if record[:1] == b"E":
            name, _, value = os.fsdecode(record[1:]).partition("=")
            env.setdefault(name, value)  # the first one wins, as with getenv
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    # The working directory is still the mount point under the code mounted since.
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))


if __name__ == "__main__":
    for _arg in sys.argv[1:]:
        if _arg.startswith("--zygote-fd="):
            sys.argv.remove(_arg)
            _await_function(int(_arg.split("=", 1)[1]))
            break
    main()
