#!/usr/bin/python3
"""etcd's own gRPC path, the baseline of bench/state_bench: sequential single-key puts, each a
Txn with one put (what StateStore::Put sends), over one HTTP/2 channel, through Python's grpcio.

No generated stubs: etcd's protos import gogoproto and google.api annotations, so the two
messages needed are encoded by hand (they are tiny). Prints one JSON line:
{"ops_per_s": ..., "p50_us": ..., "p99_us": ...}.

usage: /usr/bin/python3 etcd_grpc_put.py HOST:PORT N [--plain-put]
"""
import json
import sys
import time

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, payload):  # length-delimited field
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def main():
    endpoint, n = sys.argv[1], int(sys.argv[2])
    plain = "--plain-put" in sys.argv[3:]
    channel = grpc.insecure_channel(endpoint)
    grpc.channel_ready_future(channel).result(timeout=10)
    method = "/etcdserverpb.KV/Put" if plain else "/etcdserverpb.KV/Txn"
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    value = b"v" * 100
    lat = []
    start = time.perf_counter()
    for i in range(n):
        put = field(1, b"grpc/%d" % (i % 1000)) + field(2, value)  # PutRequest{key, value}
        req = put if plain else field(2, field(2, put))  # TxnRequest{success: [RequestOp{put}]}
        t0 = time.perf_counter()
        call(req, timeout=5)
        lat.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    lat.sort()
    print(json.dumps({
        "ops_per_s": round(n / total, 1),
        "p50_us": round(lat[len(lat) // 2] * 1e6, 1),
        "p99_us": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6, 1),
    }))


if __name__ == "__main__":
    main()
