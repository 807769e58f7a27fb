"""The hostile-input case table for test_hostile.py, and the raw-socket client both the test and a
function inside a sandbox use (RAW_CLIENT_SRC is exec'd here and shipped in the function's zip).

A case is a dict:
    name       unique within its listener
    category   request_line, uri_length, headers, content_length, chunked, transfer_encoding,
               smuggling, sizes, json, utf8, names, parameters
    listener   api, url_path, url_host, runtime
    raw        the exact bytes sent on a fresh connection
    expect     the acceptable statuses of the first response (a tuple)
    then       the acceptable statuses of each further response, for pipelined requests ([] = none)
    single     exactly one response may come back (smuggling: the smuggled request is never answered)
    close      True: the server must close the connection after its answer
    etype      optional: the first response's x-amzn-ErrorType must start with this

The generic cases are templates: @T@ is a GET target, @P@ a POST target, @H@ the Host value of the
listener, "ok" in expect the listener's normal answer to that target (200 on the API and function
URLs; 404 on the Runtime API, whose probe path is unknown to it on purpose: a case the server
accepts must not change a sandbox's state).
"""

RAW_CLIENT_SRC = r'''
import socket, time

def parse_responses(data):
    """[(status, {lower header: value}, body)] of the complete responses in data (1xx skipped)."""
    out, pos = [], 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return out
        lines = data[pos:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return out
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        pos = end + 4
        if 100 <= status < 200:
            continue
        n = headers.get("content-length")
        if n is None or not n.isdigit():
            if status in (204, 304):
                n = "0"
            else:  # delimited by the close: complete only if nothing follows it
                out.append((status, headers, data[pos:]))
                return out
        n = int(n)
        if len(data) - pos < n:
            return out
        out.append((status, headers, data[pos:pos + n]))
        pos += n

def exchange(addr, raw, timeout=3.0, want=1, linger=0.3, shut=False, source=None):
    """Sends raw on a fresh connection; reads until the server closes, or until `want` complete
    responses came and then `linger` seconds of silence, or until timeout. Returns a dict:
    data (bytes read), closed (EOF or reset seen), reset, error (a send error), elapsed."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    res = {"data": b"", "closed": False, "reset": False, "error": None}
    try:
        if source:
            s.bind((source, 0))
        s.connect(addr)
        try:
            s.sendall(raw)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            res["error"] = "send: %s" % e.__class__.__name__
        deadline = t0 + timeout
        data = b""
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            enough = len(parse_responses(data)) >= want
            s.settimeout(min(linger, deadline - now) if enough else deadline - now)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                if enough:
                    break
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                res["closed"] = res["reset"] = True
                break
            if not chunk:
                res["closed"] = True
                break
            data += chunk
        res["data"] = data
    except OSError as e:
        res["error"] = "connect: %s" % e
    finally:
        s.close()
    res["elapsed"] = time.monotonic() - t0
    return res
'''

exec(RAW_CLIENT_SRC)  # parse_responses, exchange

BODY = b'{"hostile":1}'
CRLF = b"\r\n"

CATEGORIES = ("request_line", "uri_length", "headers", "content_length", "chunked", "transfer_encoding",
              "smuggling", "sizes", "json", "utf8", "names", "parameters", "admin")


def _case(name, category, raw, expect, close=None, then=None, single=False, listeners=None, etype=None,
          timeout=None):
    return {"name": name, "category": category, "raw": raw, "expect": tuple(expect), "close": close,
            "then": then or [], "single": single, "listeners": listeners, "etype": etype, "timeout": timeout}


def _get(line=b"GET @T@ HTTP/1.1", headers=(b"Host: @H@",), tail=b""):
    return line + CRLF + b"".join(h + CRLF for h in headers) + CRLF + tail


def _post(headers, body, line=b"POST @P@ HTTP/1.1"):
    return line + CRLF + b"Host: @H@" + CRLF + b"".join(h + CRLF for h in headers) + CRLF + body


def _cl(n=len(BODY)):
    return b"Content-Length: %d" % n


CHUNKED_BODY = b"5\r\n" + BODY[:5] + b"\r\n8\r\n" + BODY[5:] + b"\r\n0\r\n\r\n"
TE = b"Transfer-Encoding: chunked"
B400 = (400,)


def generic_cases():
    """The parser cases every listener gets."""
    c = []
    add = c.append

    # -- request line --------------------------------------------------------------------------
    rl = "request_line"
    add(_case("baseline_get", rl, _get(), ["ok"]))
    add(_case("baseline_http10", rl, _get(b"GET @T@ HTTP/1.0"), ["ok"]))
    add(_case("http10_without_host", rl, b"GET @T@ HTTP/1.0\r\n\r\n", ["ok"], listeners=("api", "url_path", "runtime")))
    add(_case("http09_simple_request", rl, b"GET @T@\r\n", B400, close=True))
    add(_case("http09_then_blank", rl, b"GET @T@\r\n\r\n", B400, close=True))
    add(_case("method_with_paren", rl, _get(b"G(T @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_with_at", rl, _get(b"GE@T @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_with_nul", rl, _get(b"G\x00T @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_with_del", rl, _get(b"GET\x7f @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_with_high_byte", rl, _get(b"G\xc9T @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_empty", rl, _get(b" @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_colon", rl, _get(b"GET: @T@ HTTP/1.1"), B400, close=True))
    add(_case("method_10k", rl, _get(b"G" * 10000 + b" @T@ HTTP/1.1"), (400, 414, 501), close=True))
    add(_case("extra_token", rl, _get(b"GET @T@ HTTP/1.1 extra"), B400, close=True))
    add(_case("version_lowercase", rl, _get(b"GET @T@ http/1.1"), B400, close=True))
    add(_case("version_no_minor", rl, _get(b"GET @T@ HTTP/1"), B400, close=True))
    add(_case("version_letters", rl, _get(b"GET @T@ HTTP/1.x"), B400, close=True))
    add(_case("version_11_no_dot", rl, _get(b"GET @T@ HTTP/11"), B400, close=True))
    add(_case("version_three_parts", rl, _get(b"GET @T@ HTTP/1.1.1"), B400, close=True))
    add(_case("version_two_digit_major", rl, _get(b"GET @T@ HTTP/01.1"), B400, close=True))
    add(_case("version_https", rl, _get(b"GET @T@ HTTPS/1.1"), B400, close=True))
    add(_case("version_missing_after_space", rl, _get(b"GET @T@ "), B400, close=True))
    add(_case("version_2_0", rl, _get(b"GET @T@ HTTP/2.0"), (505,), close=True))
    add(_case("version_3_0", rl, _get(b"GET @T@ HTTP/3.0"), (505,), close=True))
    add(_case("version_0_9", rl, _get(b"GET @T@ HTTP/0.9"), (400, 505), close=True))
    add(_case("version_1_9_is_1_x", rl, _get(b"GET @T@ HTTP/1.9"), ["ok"]))  # RFC 9110 2.5
    add(_case("h2_preface", rl, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505), close=True))
    add(_case("tls_client_hello", rl, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
              B400, close=True))
    add(_case("binary_garbage", rl, bytes(range(1, 32)) * 4 + b"\r\n\r\n", B400, close=True))
    add(_case("bare_cr_separator", rl, _get(b"GET @T@\rHTTP/1.1"), B400, close=True))
    add(_case("leading_empty_line", rl, CRLF + _get(), ["ok"]))  # RFC 9112 2.2: SHOULD ignore
    add(_case("target_relative", rl, _get(b"GET functions HTTP/1.1"), B400, close=True))
    add(_case("target_query_only", rl, _get(b"GET ?a=1 HTTP/1.1"), B400, close=True))
    add(_case("target_star_on_get", rl, _get(b"GET * HTTP/1.1"), B400, close=True))
    add(_case("target_empty", rl, _get(b"GET  HTTP/1.1"), B400, close=True))
    add(_case("target_with_space", rl, _get(b"GET /a b HTTP/1.1"), B400, close=True))
    add(_case("target_with_ctl", rl, _get(b"GET @T@\x01x HTTP/1.1"), B400, close=True))
    add(_case("target_with_nul", rl, _get(b"GET @T@\x00 HTTP/1.1"), B400, close=True))
    add(_case("target_with_del", rl, _get(b"GET @T@\x7f HTTP/1.1"), B400, close=True))
    add(_case("target_absolute_form", rl, _get(b"GET http://@H@@T@ HTTP/1.1"), ["ok"]))  # RFC 9112 3.2.2
    add(_case("target_absolute_https", rl, _get(b"GET https://@H@@T@ HTTP/1.1"), ["ok"]))
    add(_case("options_star", rl, _get(b"OPTIONS * HTTP/1.1"), (200, 204, 403, 404, 405, 501)))

    # -- URI length ----------------------------------------------------------------------------
    ul = "uri_length"
    add(_case("target_8000", ul, _get(b"GET @T@?pad=" + b"a" * 7900 + b" HTTP/1.1"), ["ok"]))
    add(_case("target_8300", ul, _get(b"GET @T@?pad=" + b"a" * 8300 + b" HTTP/1.1"), (414,), close=True))
    add(_case("target_16k_path", ul, _get(b"GET @T@/" + b"p" * 16384 + b" HTTP/1.1"), (414,), close=True))
    add(_case("target_64k", ul, _get(b"GET @T@?pad=" + b"b" * 65536 + b" HTTP/1.1"), (414,), close=True))
    add(_case("target_8300_no_crlf_yet", ul, b"GET @T@?pad=" + b"c" * 8300, (414,), close=True))
    add(_case("target_200k_slash", ul, _get(b"GET " + b"/" * 200000 + b" HTTP/1.1"), (414,), close=True))

    # -- headers -------------------------------------------------------------------------------
    hd = "headers"
    add(_case("space_before_colon", hd, _get(headers=(b"Host: @H@", b"X-A : b")), B400, close=True))
    add(_case("tab_before_colon", hd, _get(headers=(b"Host: @H@", b"X-A\t: b")), B400, close=True))
    add(_case("name_with_ctl", hd, _get(headers=(b"Host: @H@", b"X-\x01A: b")), B400, close=True))
    add(_case("name_with_nul", hd, _get(headers=(b"Host: @H@", b"X-\x00A: b")), B400, close=True))
    add(_case("name_with_paren", hd, _get(headers=(b"Host: @H@", b"X-(A): b")), B400, close=True))
    add(_case("name_with_high_byte", hd, _get(headers=(b"Host: @H@", b"X-\xe9: b")), B400, close=True))
    add(_case("name_empty", hd, _get(headers=(b"Host: @H@", b": b")), B400, close=True))
    add(_case("line_without_colon", hd, _get(headers=(b"Host: @H@", b"X-A b")), B400, close=True))
    add(_case("value_with_nul", hd, _get(headers=(b"Host: @H@", b"X-A: b\x00c")), B400, close=True))
    add(_case("value_with_ctl", hd, _get(headers=(b"Host: @H@", b"X-A: b\x01c")), B400, close=True))
    add(_case("value_with_esc", hd, _get(headers=(b"Host: @H@", b"X-A: \x1b[31mred")), B400, close=True))
    add(_case("value_with_del", hd, _get(headers=(b"Host: @H@", b"X-A: b\x7fc")), B400, close=True))
    add(_case("value_with_bare_cr", hd, _get(headers=(b"Host: @H@", b"X-A: b\rc")), B400, close=True))
    add(_case("value_obs_text_ok", hd, _get(headers=(b"Host: @H@", b"X-A: caf\xc3\xa9 \xff")), ["ok"]))
    add(_case("value_with_tab_ok", hd, _get(headers=(b"Host: @H@", b"X-A: a\tb")), ["ok"]))
    add(_case("value_empty_ok", hd, _get(headers=(b"Host: @H@", b"X-A:")), ["ok"]))
    add(_case("obs_fold_space", hd, _get(headers=(b"Host: @H@", b"X-A: b", b" c")), B400, close=True))
    add(_case("obs_fold_tab", hd, _get(headers=(b"Host: @H@", b"X-A: b", b"\tc")), B400, close=True))
    add(_case("obs_fold_first_line", hd, _get(headers=(b" X-A: b", b"Host: @H@")), B400, close=True))
    add(_case("host_missing", hd, _get(headers=(b"X-A: b",)), B400, close=True))
    add(_case("host_twice_same", hd, _get(headers=(b"Host: @H@", b"Host: @H@")), B400, close=True))
    add(_case("host_twice_different", hd, _get(headers=(b"Host: @H@", b"Host: evil.example")), B400, close=True))
    add(_case("host_list", hd, _get(headers=(b"Host: @H@, evil.example",)), B400, close=True))
    add(_case("host_with_space", hd, _get(headers=(b"Host: a b",)), B400, close=True))  # RFC 9112 3.2
    add(_case("host_with_slash", hd, _get(headers=(b"Host: a/b",)), B400, close=True))
    add(_case("host_with_at", hd, _get(headers=(b"Host: user@@H@",)), B400, close=True))
    add(_case("host_bad_port", hd, _get(headers=(b"Host: localhost:99x",)), B400, close=True))
    add(_case("host_unclosed_bracket", hd, _get(headers=(b"Host: [::1",)), B400, close=True))
    add(_case("fields_150_ok", hd, _get(headers=[b"Host: @H@"] + [b"X-F%d: v" % i for i in range(150)]), ["ok"]))
    add(_case("fields_201", hd, _get(headers=[b"Host: @H@"] + [b"X-F%d: v" % i for i in range(201)]), (431,),
              close=True))
    add(_case("fields_1000", hd, _get(headers=[b"Host: @H@"] + [b"X-F%d: v" % i for i in range(1000)]), (431,),
              close=True))
    add(_case("fields_201_empty_values", hd, _get(headers=[b"Host: @H@"] + [b"X-E%d:" % i for i in range(201)]),
              (431,), close=True))

    # -- Content-Length ------------------------------------------------------------------------
    cl = "content_length"
    add(_case("baseline_post", cl, _post([_cl()], BODY), ["ok"]))
    add(_case("leading_zeros_ok", cl, _post([b"Content-Length: 0013"], BODY), ["ok"]))
    add(_case("ows_around_ok", cl, _post([b"Content-Length:  13 "], BODY), ["ok"]))
    for label, value in (("letters", b"abc"), ("negative", b"-13"), ("plus_sign", b"+13"), ("hex", b"0xd"),
                         ("exponent", b"1e1"), ("decimal", b"13.0"), ("empty", b""), ("space_inside", b"1 3"),
                         ("trailing_comma", b"13,"), ("list_equal", b"13, 13"), ("list_differing", b"13, 14"),
                         ("overflow_2_64", b"18446744073709551616"), ("overflow_30_digits", b"9" * 30),
                         ("nul_inside", b"1\x003"), ("unicode_digits", "\u0661\u0663".encode())):
        add(_case("cl_" + label, cl, _post([b"Content-Length: " + value], BODY), B400, close=True))
    add(_case("cl_max_u64", cl, _post([b"Content-Length: 18446744073709551615"], BODY), (400, 413), close=True))
    add(_case("cl_twice_equal", cl, _post([_cl(), _cl()], BODY), B400, close=True))
    add(_case("cl_twice_differing", cl, _post([_cl(), _cl(14)], BODY), B400, close=True))
    add(_case("cl_twice_zero_and_len", cl, _post([b"Content-Length: 0", _cl()], BODY), B400, close=True))
    add(_case("cl_name_with_nul", cl, _post([b"Content-Length\x00: 13"], BODY), B400, close=True))

    # -- chunked -------------------------------------------------------------------------------
    ch = "chunked"
    add(_case("baseline_chunked", ch, _post([TE], CHUNKED_BODY), ["ok"]))
    add(_case("chunked_uppercase_hex_ok", ch, _post([TE], b"D\r\n" + BODY + b"\r\n0\r\n\r\n"), ["ok"]))
    add(_case("chunked_ext_ok", ch, _post([TE], b"d;name=value\r\n" + BODY + b"\r\n0\r\n\r\n"), ["ok"]))
    add(_case("chunked_trailer_ok", ch, _post([TE], b"d\r\n" + BODY + b"\r\n0\r\nX-T: 1\r\n\r\n"), ["ok"]))
    add(_case("chunked_leading_zeros_ok", ch, _post([TE], b"000d\r\n" + BODY + b"\r\n0\r\n\r\n"), ["ok"]))
    for label, body in (
            ("size_not_hex", b"zz\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_negative", b"-d\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_0x_prefix", b"0xd\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_empty", b"\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_overflow_17_digits", b"1" + b"0" * 16 + b"\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_with_space_inside", b"1 0\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("size_with_nul", b"d\x00\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("ext_with_ctl", b"d;a\x01=b\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("ext_without_name", b"d;=b\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("ext_unterminated_quote", b"d;a=\"b\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("ext_bare_equals_value", b"d;a=\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("data_missing_crlf", b"d\r\n" + BODY + b"X0\r\n\r\n"),
            ("data_longer_than_size", b"5\r\n" + BODY + b"\r\n0\r\n\r\n"),
            ("data_cr_without_lf", b"d\r\n" + BODY + b"\r0\r\n\r\n"),
            ("trailer_bad_name", b"d\r\n" + BODY + b"\r\n0\r\nX T: 1\r\n\r\n"),
            ("trailer_nul_value", b"d\r\n" + BODY + b"\r\n0\r\nX-T: \x00\r\n\r\n"),
    ):
        add(_case("chunk_" + label, ch, _post([TE], body), B400, close=True))
    # A folded trailer is read with the fold replaced by a space, which RFC 9112 5.2 allows as the
    # alternative to a 400 (folds in the head are refused). Alto reads no trailer of a buffered
    # request; the request is then answered as the listener answers it.
    add(_case("chunk_trailer_obs_fold", ch,
              _post([TE], b"d\r\n" + BODY + b"\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"), ["ok", 400]))
    add(_case("chunk_ext_100k", ch, _post([TE], b"d;x=" + b"a" * 100000 + b"\r\n" + BODY + b"\r\n0\r\n\r\n"),
              (400, 413, 431), close=True))

    # -- Transfer-Encoding ---------------------------------------------------------------------
    te = "transfer_encoding"
    add(_case("te_case_insensitive_ok", te, _post([b"Transfer-Encoding: ChUnKeD"], CHUNKED_BODY), ["ok"]))
    add(_case("te_ows_ok", te, _post([b"Transfer-Encoding:\t chunked \t"], CHUNKED_BODY), ["ok"]))
    for label, value in (("gzip", b"gzip"), ("xchunked", b"xchunked"), ("identity", b"identity"),
                         ("chunked_identity", b"chunked, identity"), ("gzip_chunked", b"gzip, chunked"),
                         ("deflate_chunked", b"deflate, chunked"), ("chunked_semicolon_junk", b"chunkedx"),
                         ("compress", b"compress")):
        add(_case("te_" + label, te, _post([b"Transfer-Encoding: " + value], CHUNKED_BODY), (501,), close=True))
    add(_case("te_chunked_twice_list", te, _post([b"Transfer-Encoding: chunked, chunked"], CHUNKED_BODY), B400,
              close=True))
    add(_case("te_chunked_twice_headers", te, _post([TE, TE], CHUNKED_BODY), B400, close=True))
    add(_case("te_chunked_then_gzip_headers", te, _post([TE, b"Transfer-Encoding: gzip"], CHUNKED_BODY), (400, 501),
              close=True))
    add(_case("te_empty", te, _post([b"Transfer-Encoding: "], CHUNKED_BODY), (400, 501), close=True))
    add(_case("te_vertical_tab", te, _post([b"Transfer-Encoding: \x0bchunked"], CHUNKED_BODY), (400, 501),
              close=True))
    add(_case("te_on_http10", te, _post([TE], CHUNKED_BODY, line=b"POST @P@ HTTP/1.0"), B400, close=True))
    add(_case("te_with_cl", te, _post([TE, _cl()], CHUNKED_BODY), B400, close=True))
    add(_case("cl_with_te", te, _post([_cl(), TE], CHUNKED_BODY), B400, close=True))
    add(_case("te_space_before_colon", te, _post([b"Transfer-Encoding : chunked"], CHUNKED_BODY), B400, close=True))

    # -- smuggling -----------------------------------------------------------------------------
    sm = "smuggling"
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: @H@\r\n\r\n"
    te_body = b"0\r\n\r\n" + smuggled
    add(_case("pipelined_two_ok", sm, _get() + _get(headers=(b"Host: @H@", b"Connection: close")), ["ok"],
              then=[("ok",)], close=True))
    add(_case("cl_te_smuggle", sm, _post([_cl(len(te_body)), TE], te_body), B400, close=True, single=True))
    add(_case("te_cl_smuggle", sm, _post([TE, b"Content-Length: 4"], b"5c\r\n" + smuggled + b"\r\n0\r\n\r\n"),
              B400, close=True, single=True))
    add(_case("cl_cl_smuggle", sm, _post([b"Content-Length: 0", _cl(len(smuggled))], smuggled), B400,
              close=True, single=True))
    add(_case("te_obfuscated_xchunked", sm, _post([_cl(len(te_body)), b"Transfer-Encoding: xchunked"], te_body),
              (400, 501), close=True, single=True))
    add(_case("te_obfuscated_space_name", sm, _post([_cl(len(te_body)), b"Transfer-Encoding : chunked"], te_body),
              B400, close=True, single=True))
    add(_case("te_obfuscated_nul", sm, _post([_cl(len(te_body)), b"Transfer-Encoding: chunked\x00"], te_body),
              B400, close=True, single=True))
    add(_case("te_obfuscated_fold", sm, _post([_cl(len(te_body)), b"Transfer-Encoding:", b" chunked"], te_body),
              B400, close=True, single=True))
    add(_case("te_http10_smuggle", sm, _post([TE], te_body, line=b"POST @P@ HTTP/1.0"), B400, close=True,
              single=True))
    add(_case("te_identity_with_cl", sm, _post([_cl(), b"Transfer-Encoding: identity"], BODY), (400, 501),
              close=True, single=True))
    # The bytes after a body are the next request: a garbage one is refused, and nothing after it.
    add(_case("cl_short_then_garbage", sm, _post([_cl()], BODY + b"G(T / HTTP/1.1\r\nHost: @H@\r\n\r\n" + smuggled),
              ["ok"], then=[B400], close=True))
    add(_case("chunked_then_smuggled_bad_line", sm, _post([TE], CHUNKED_BODY + b"GET /x HTTP/9.9\r\n\r\n"),
              ["ok"], then=[(505,)], close=True))
    add(_case("bare_lf_header_hides_te", sm, _post([_cl(len(te_body)) + b"\nTransfer-Encoding: chunked"], te_body),
              (400, "ok"), close=None, single=False))
    add(_case("underscore_te_ignored", sm, _post([_cl(), b"Transfer_Encoding: chunked"], BODY), ["ok"]))
    return c


def size_cases():
    """Header-section and body sizes; expectations differ per listener (16 KiB heads on the Runtime API)."""
    c, add, sz = [], None, "sizes"
    add = c.append
    big = lambda n: b"X-Big: " + b"h" * n
    spread = lambda total, n: [b"X-S%03d: " % i + b"s" * (total // n) for i in range(n)]
    host = ("api", "url_path", "url_host")
    add(_case("header_one_70k", sz, _get(headers=(b"Host: @H@", big(70 * 1024))), (431,), close=True))
    add(_case("header_total_66k_in_100", sz, _get(headers=[b"Host: @H@"] + spread(66 * 1024, 100)), (431,),
              close=True, listeners=host))
    add(_case("header_total_40k_ok", sz, _get(headers=[b"Host: @H@"] + spread(40 * 1024, 100)), ["ok"],
              listeners=host))
    add(_case("header_name_70k", sz, _get(headers=(b"Host: @H@", b"X" * (70 * 1024) + b": v")), (400, 431),
              close=True))
    add(_case("header_1mb_no_end", sz, b"GET @T@ HTTP/1.1\r\nHost: @H@\r\nX-Big: " + b"z" * (1 << 20), (431,),
              close=True, timeout=6))
    add(_case("header_one_20k_runtime", sz, _get(headers=(b"Host: @H@", big(20 * 1024))), (431,), close=True,
              listeners=("runtime",)))
    add(_case("header_one_12k_runtime_ok", sz, _get(headers=(b"Host: @H@", big(12 * 1024))), ["ok"],
              listeners=("runtime",)))
    add(_case("header_total_18k_in_40_runtime", sz, _get(headers=[b"Host: @H@"] + spread(18 * 1024, 40)), (431,),
              close=True, listeners=("runtime",)))
    add(_case("declared_body_100mb", sz, _post([b"Content-Length: 100000000"], b""), (413,), close=True))
    add(_case("declared_body_2_63", sz, _post([b"Content-Length: 9223372036854775807"], b""), (400, 413),
              close=True))
    add(_case("chunk_256mb_declared", sz, _post([TE], b"10000000\r\n" + b"x" * 100), (413,), close=True))
    add(_case("chunk_max_u64_declared", sz, _post([TE], b"ffffffffffffffff\r\nxx"), (400, 413), close=True))
    # Actually sent: Invoke's and function URLs' 6 MiB, the Runtime API's 6 MiB + 100 bytes.
    over6 = b'"' + b"p" * (6 * 1024 * 1024 + 200) + b'"'  # over the Runtime API's 6 MiB + 100 too
    # (On the API listener these two are signed: api_level_cases.)
    add(_case("body_over_6mib", sz, _post([_cl(len(over6)), b"Connection: close"], over6), (413,), close=True,
              timeout=15, listeners=("url_path", "url_host", "runtime")))
    add(_case("chunked_over_6mib", sz, _post([TE, b"Connection: close"],
                                            b"%x\r\n" % len(over6) + over6 + b"\r\n0\r\n\r\n"), (413,),
              close=True, timeout=15, listeners=("url_path", "url_host", "runtime")))
    return c


LISTENERS = ("api", "url_path", "url_host", "runtime")


def _remove_dot_segments(path):
    """botocore's remove_dot_segments on bytes: RFC 3986 5.2.4, empty segments dropped too."""
    out = []
    for seg in path.split(b"/"):
        if seg and seg != b".":
            if seg == b"..":
                if out:
                    out.pop()
            else:
                out.append(seg)
    last = b"/" if path.endswith(b"/") and out else b""
    return b"/" + b"/".join(out) + last


def _pct_decode(raw):
    """Percent-decodes bytes; an escape that is not two hex digits stays as it is."""
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i:i + 1] == b"%" and len(raw[i + 1:i + 3]) == 2 and all(
                c in b"0123456789abcdefABCDEF" for c in raw[i + 1:i + 3]):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def sign_raw(method, target, headers, body, key_id="test", secret="test", region="us-east-1",
             service="lambda", when=None):
    """The X-Amz-Date and Authorization header lines (bytes) of a SigV4 signature over a raw request
    as the server canonicalises it: the wire path normalised and encoded again; query pairs
    decoded once, encoded with the unreserved set and sorted; the listed headers trimmed."""
    import datetime, hashlib, hmac
    from urllib.parse import quote

    when = when or datetime.datetime.utcnow()
    amz_date = when.strftime("%Y%m%dT%H%M%SZ").encode()
    path, _, query = target.partition(b"?")
    cpath = quote(_remove_dot_segments(path), safe=b"/~").encode()
    pairs = []
    for p in query.split(b"&") if query else []:
        k, _, v = p.partition(b"=")
        pairs.append((quote(_pct_decode(k), safe=b"-_.~"), quote(_pct_decode(v), safe=b"-_.~")))
    cquery = "&".join("%s=%s" % kv for kv in sorted(pairs)).encode()
    hdrs = {}
    for h in headers + [b"X-Amz-Date: " + amz_date]:
        name, _, value = h.partition(b":")
        hdrs.setdefault(name.strip().lower(), []).append(b" ".join(value.split()))
    signed = sorted(hdrs)
    canon = b"\n".join([method, cpath, cquery] + [n + b":" + b",".join(hdrs[n]) for n in signed] +
                        [b"", b";".join(signed), hashlib.sha256(body).hexdigest().encode()])
    scope = b"%s/%s/%s/aws4_request" % (amz_date[:8], region.encode(), service.encode())
    sts = b"\n".join([b"AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canon).hexdigest().encode()])
    k = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region.encode(), service.encode(), b"aws4_request"):
        k = hmac.new(k, part, hashlib.sha256).digest()
    sig = hmac.new(k, sts, hashlib.sha256).hexdigest().encode()
    return [b"X-Amz-Date: " + amz_date,
            b"Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
            % (key_id.encode(), scope, b";".join(signed), sig)]


def api_level_cases(fn, host):
    """JSON, UTF-8, names and parameters of the control API (the third engineer's validation),
    each signed with the test key so that it reaches the operation's own checks."""
    def req(method, target, body=None, headers=()):
        signed = [b"Host: " + host] + list(headers)
        if body is not None:
            signed.append(b"Content-Type: application/json")
        head = b"%s %s HTTP/1.1\r\nConnection: close\r\n" % (method, target)
        for h in signed + sign_raw(method, target, signed, body or b""):
            head += h + CRLF
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        return head + CRLF + (body or b"")

    f = fn.encode()
    inv = b"/2015-03-31/functions/" + f + b"/invocations"
    create = b"/2015-03-31/functions"
    conf = b"/2015-03-31/functions/" + f + b"/configuration"
    c, add = [], None
    add = c.append
    IRC = "InvalidRequestContentException"
    # Control-plane bodies that are not JSON, or nest too deep, keep the error type Alto's
    # validation has always given them (test_errors.test_malformed_json_body); Invoke payloads
    # that are not JSON get Lambda's InvalidRequestContentException.
    IPV = "InvalidParameterValueException"

    def nested(depth, inner=b"1"):
        return b"[" * depth + inner + b"]" * depth

    js = "json"
    add(_case("create_65_deep", js, req(b"POST", create, b'{"FunctionName":"d","Tags":' + nested(65) + b"}"), B400,
              etype=IPV))
    add(_case("create_10000_deep", js, req(b"POST", create, b'{"FunctionName":"d","x":' + nested(10000) + b"}"),
              B400, etype=IPV))
    add(_case("create_1m_deep_objects", js, req(b"POST", create, b'{"a":' * 500000 + b"1" + b"}" * 500000), B400,
              etype=IPV, timeout=10))
    add(_case("create_unclosed_deep", js, req(b"POST", create, b"[" * 200000), B400, etype=IPV, timeout=10))
    add(_case("config_100_deep", js, req(b"PUT", conf, b'{"Environment":{"Variables":' + nested(100) + b"}}"), B400,
              etype=IPV))
    # An Invoke payload is the function's: deep but valid JSON passes (the async 100,000-deep case
    # is test_async_deep_payload).
    add(_case("invoke_100_deep_sync_passes", js, req(b"POST", inv, nested(100)), (200,)))
    add(_case("invoke_invalid_json", js, req(b"POST", inv, b'{"a":'), B400, etype=IRC))
    add(_case("invoke_trailing_garbage", js, req(b"POST", inv, b'{"a":1}x'), B400, etype=IRC))
    add(_case("invoke_nan", js, req(b"POST", inv, b'{"a":NaN}'), B400, etype=IRC))
    add(_case("create_invalid_json", js, req(b"POST", create, b'{"FunctionName":'), B400, etype=IPV))
    add(_case("create_json_array", js, req(b"POST", create, b"[]"), B400))
    add(_case("create_json_string", js, req(b"POST", create, b'"x"'), B400))
    add(_case("create_big_number_timeout", js, req(b"POST", create, b'{"FunctionName":"bn","Timeout":1e999999}'),
              B400))
    add(_case("config_timeout_string", js, req(b"PUT", conf, b'{"Timeout":"30"}'), B400))
    add(_case("alias_deep", js, req(b"POST", b"/2015-03-31/functions/" + f + b"/aliases",
                                    b'{"Name":"deep","FunctionVersion":"$LATEST","RoutingConfig":' + nested(1000) + b"}"),
              B400, etype=IPV))

    u8 = "utf8"
    add(_case("name_pct_ff_fe", u8, req(b"GET", b"/2015-03-31/functions/%ff%fe"), B400))
    add(_case("name_pct_ff_fe_invoke", u8, req(b"POST", b"/2015-03-31/functions/%ff%fe/invocations", b"{}"), B400))
    add(_case("name_pct_overlong_slash", u8, req(b"GET", b"/2015-03-31/functions/%c0%af"), B400))
    add(_case("name_pct_surrogate", u8, req(b"GET", b"/2015-03-31/functions/%ed%a0%80"), B400))
    add(_case("name_raw_ff", u8, req(b"GET", b"/2015-03-31/functions/\xff\xfe"), B400))
    add(_case("create_name_invalid_utf8", u8, req(b"POST", create, b'{"FunctionName":"\xff\xfe","Runtime":'
                                                                     b'"python3.12","Handler":"a.b","Role":"r"}'),
              B400))
    add(_case("invoke_payload_invalid_utf8", u8, req(b"POST", inv, b'{"a":"\xff"}'), B400, etype=IRC))
    add(_case("invoke_payload_overlong", u8, req(b"POST", inv, b'{"a":"\xc0\xaf"}'), B400, etype=IRC))
    add(_case("invoke_payload_surrogate_bytes", u8, req(b"POST", inv, b'{"a":"\xed\xa0\x80"}'), B400, etype=IRC))
    add(_case("config_description_invalid_utf8", u8, req(b"PUT", conf, b'{"Description":"\xfe"}'), B400))
    add(_case("qualifier_pct_ff", u8, req(b"GET", b"/2015-03-31/functions/" + f + b"?Qualifier=%ff"), B400))
    add(_case("invoke_payload_valid_utf8_ok", u8, req(b"POST", inv, '{"a":"caf\u00e9 \u2603"}'.encode()), (200,)))

    nm = "names"
    add(_case("name_300_chars", nm, req(b"GET", b"/2015-03-31/functions/" + b"n" * 300), B400))
    add(_case("name_65_chars_create", nm, req(b"POST", create, b'{"FunctionName":"' + b"n" * 65 +
                                              b'","Runtime":"python3.12","Handler":"a.b","Role":"r",'
                                              b'"Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}'), B400))
    add(_case("name_with_space", nm, req(b"GET", b"/2015-03-31/functions/a%20b"), B400))
    add(_case("name_with_nul", nm, req(b"GET", b"/2015-03-31/functions/a%00b"), B400))
    add(_case("name_with_encoded_slash", nm, req(b"GET", b"/2015-03-31/functions/a%2Fb"), (400, 404)))
    add(_case("name_dot_dot", nm, req(b"GET", b"/2015-03-31/functions/.."), (400, 404)))
    add(_case("name_bang_create", nm, req(b"POST", create, b'{"FunctionName":"bad name!","Runtime":"python3.12",'
                                                           b'"Handler":"a.b","Role":"r"}'), B400))
    add(_case("name_empty_arn", nm, req(b"GET", b"/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:"
                                                b"function:"), (400, 404)))
    add(_case("name_arn_other_region", nm, req(b"GET", b"/2015-03-31/functions/arn:aws:lambda:xx-evil-1:"
                                                       b"000000000000:function:" + f), (400, 404)))
    add(_case("url_path_name_ff", nm, req(b"GET", b"/url/%ff/"), (400, 404)))
    add(_case("url_path_name_300", nm, req(b"GET", b"/url/" + b"n" * 300 + b"/"), (400, 404)))
    add(_case("url_host_id_garbage", nm, req(b"GET", b"/").replace(
        b"Host: " + host, b"Host: %s.lambda-url.us-east-1.localhost" % (b"\xff" * 8)), B400, close=True))

    # Invoke's 6 MiB, whole and chunked (the signature covers the decoded body).
    over6 = b'"' + b"p" * (6 * 1024 * 1024 + 200) + b'"'
    add(_case("invoke_body_over_6mib", "sizes", req(b"POST", inv, over6), (413,), close=True, timeout=15))
    signed = [b"Host: " + host, b"Content-Type: application/json"]
    chunked = b"POST %s HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n" % inv
    for h in signed + sign_raw(b"POST", inv, signed, over6):
        chunked += h + CRLF
    chunked += CRLF + b"%x\r\n" % len(over6) + over6 + b"\r\n0\r\n\r\n"
    add(_case("invoke_chunked_over_6mib", "sizes", chunked, (413,), close=True, timeout=15))

    # The admin API's account operations: bodies and names it must refuse, changing nothing.
    ad = "admin"
    accounts = b"/v1/accounts"
    add(_case("account_create_not_json", ad, req(b"POST", accounts, b'{"Name":'), B400))
    add(_case("account_create_deep", ad, req(b"POST", accounts, b'{"Name":' + nested(10000) + b"}"), B400))
    add(_case("account_create_array", ad, req(b"POST", accounts, b"[]"), B400))
    add(_case("account_create_name_number", ad, req(b"POST", accounts, b'{"Name":5}'), B400))
    add(_case("account_create_name_300", ad, req(b"POST", accounts, b'{"Name":"' + b"n" * 300 + b'"}'), B400))
    add(_case("account_create_name_digits", ad, req(b"POST", accounts, b'{"Name":"123456789012"}'), B400))
    add(_case("account_create_name_invalid_utf8", ad, req(b"POST", accounts, b'{"Name":"\xff\xfe"}'), B400))
    add(_case("account_create_unknown_field", ad, req(b"POST", accounts, b'{"Name":"ok","Root":true}'), B400))
    add(_case("account_delete_admin", ad, req(b"DELETE", accounts + b"/admin"), B400))
    add(_case("account_delete_name_300", ad, req(b"DELETE", accounts + b"/" + b"n" * 300), (400, 404)))
    add(_case("account_delete_pct_ff", ad, req(b"DELETE", accounts + b"/%ff%fe"), (400, 404)))

    pm = "parameters"
    add(_case("log_type_bogus", pm, req(b"POST", inv, b"{}", [b"X-Amz-Log-Type: Bogus"]), B400))
    add(_case("invocation_type_bogus", pm, req(b"POST", inv, b"{}", [b"X-Amz-Invocation-Type: Bogus"]), B400))
    add(_case("client_context_not_base64", pm, req(b"POST", inv, b"{}", [b"X-Amz-Client-Context: %%%"]), B400,
              etype=IRC))
    add(_case("client_context_huge", pm, req(b"POST", inv, b"{}", [b"X-Amz-Client-Context: " + b"A" * 8000]), B400))
    add(_case("qualifier_300", pm, req(b"GET", b"/2015-03-31/functions/" + f + b"?Qualifier=" + b"q" * 300), B400))
    add(_case("qualifier_bad_chars", pm, req(b"GET", b"/2015-03-31/functions/" + f + b"?Qualifier=a%20b!"), B400))
    add(_case("max_items_negative", pm, req(b"GET", b"/2015-03-31/functions?MaxItems=-1"), B400))
    add(_case("max_items_letters", pm, req(b"GET", b"/2015-03-31/functions?MaxItems=abc"), B400))
    add(_case("max_items_overflow", pm, req(b"GET", b"/2015-03-31/functions?MaxItems=" + b"9" * 30), B400))
    add(_case("max_items_zero", pm, req(b"GET", b"/2015-03-31/functions?MaxItems=0"), B400))
    add(_case("query_bad_percent", pm, req(b"GET", b"/2015-03-31/functions?MaxItems=%zz"), B400))

    # AddPermission / RemovePermission bodies and statement ids (resource-based policies): every
    # one refused, nothing stored.
    pol = b"/2015-03-31/functions/" + f + b"/policy"
    perm = b'{"StatementId":"h","Action":"lambda:InvokeFunction","Principal":'
    add(_case("add_permission_deep", js, req(b"POST", pol, perm + nested(1000) + b"}"), B400, etype=IPV))
    add(_case("add_permission_truncated", js, req(b"POST", pol, perm), B400))
    add(_case("add_permission_array", js, req(b"POST", pol, b"[]"), B400))
    add(_case("add_permission_sid_invalid_utf8", u8, req(b"POST", pol, b'{"StatementId":"\xff\xfe",'
                                                                          b'"Action":"lambda:*","Principal":"*"}'),
              B400))
    add(_case("add_permission_principal_object", pm, req(b"POST", pol, perm + b'{"AWS":"*"}}'), B400, etype=IPV))
    add(_case("add_permission_principal_wildcard_arn", pm,
              req(b"POST", pol, perm + b'"arn:aws:iam::*:root"}'), B400, etype=IPV))
    add(_case("add_permission_policy_variable", pm,
              req(b"POST", pol, perm + b'"*","SourceArn":"arn:aws:s3:::${aws:username}"}'), B400, etype=IPV))
    add(_case("add_permission_sid_nul", pm, req(b"POST", pol, b'{"StatementId":"a\\u0000b",'
                                                              b'"Action":"lambda:*","Principal":"*"}'), B400))
    add(_case("add_permission_action_huge", pm, req(b"POST", pol, b'{"StatementId":"h","Action":"lambda:' +
                                                    b"A" * 100000 + b'","Principal":"*"}'), (400, 413)))
    add(_case("add_permission_number_fields", pm, req(b"POST", pol, b'{"StatementId":1,"Action":true,'
                                                                    b'"Principal":null}'), B400))
    add(_case("remove_permission_sid_pct_ff", u8, req(b"DELETE", pol + b"/%ff"), B400))
    add(_case("remove_permission_sid_300", nm, req(b"DELETE", pol + b"/" + b"s" * 300), B400))
    return c


def expand(template_cases, listener, ctx):
    """Concrete cases of one listener: placeholders filled, "ok" replaced by its status."""
    out = []
    for case in template_cases:
        if case["listeners"] and listener not in case["listeners"]:
            continue
        raw = case["raw"].replace(b"@T@", ctx["T"]).replace(b"@P@", ctx["P"]).replace(b"@H@", ctx["H"])
        ok = lambda statuses: tuple(ctx["ok"] if s == "ok" else s for s in statuses)
        c = dict(case, raw=raw, listener=listener, expect=ok(case["expect"]), then=[ok(t) for t in case["then"]])
        out.append(c)
    return out
