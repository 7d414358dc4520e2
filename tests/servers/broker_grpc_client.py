#!/usr/bin/env python3
# Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
#
# An independent client for storage_broker: Python grpcio (Debian's python3-grpcio) with stubs
# generated here from lib/remote/proto/storage_broker.proto. Starts the broker on free ports,
# subscribes (all timelines, and one timeline), publishes, checks what arrives, reads /metrics
# and /v1/status, and stops the broker with SIGTERM (exit status 0 expected).
#
# usage: broker_grpc_client.py --broker BIN --proto FILE --protoc BIN --grpc-python-plugin BIN

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def generate_stubs(args, out_dir):
    proto_dir = os.path.dirname(os.path.abspath(args.proto))
    subprocess.run([args.protoc, "-I", proto_dir, "--python_out=" + out_dir,
                    "--grpc_python_out=" + out_dir,
                    "--plugin=protoc-gen-grpc_python=" + args.grpc_python_plugin,
                    os.path.abspath(args.proto)], check=True)
    sys.path.insert(0, out_dir)


def start_broker(binary, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "--listen-addr=127.0.0.1:0", "--http-listen-addr=127.0.0.1:0"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:
        text = open(log_path).read()
        m = re.search(r"event=started .*grpc_port=(\d+) .*http_port=(\d+)", text)
        if m:
            return proc, int(m.group(1)), int(m.group(2))
        if proc.poll() is not None:
            fail("broker exited: " + text)
        time.sleep(0.02)
    proc.kill()
    fail("broker did not start")


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.status, r.read().decode()


def collect(stream, out, want_keys, done):
    """Appends (sk, timeline byte, commit_lsn) until every key in want_keys reached its value."""
    latest = {}
    try:
        for info in stream:
            key = (info.safekeeper_id, info.tenant_timeline_id.timeline_id[:1])
            out.append((key, info.commit_lsn, info.availability_zone))
            latest[key] = info.commit_lsn
            if all(latest.get(k) == v for k, v in want_keys.items()):
                break
    except Exception as e:  # cancelled or deadline
        out.append(("error", str(e), ""))
    done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--protoc", required=True)
    p.add_argument("--grpc-python-plugin", required=True)
    args = p.parse_args()

    import grpc  # python3-grpcio

    with tempfile.TemporaryDirectory(prefix="neon_broker_py.") as tmp:
        generate_stubs(args, tmp)
        import storage_broker_pb2 as pb
        import storage_broker_pb2_grpc as pb_grpc

        proc, grpc_port, http_port = start_broker(args.broker, os.path.join(tmp, "broker.log"))
        try:
            channel = grpc.insecure_channel("127.0.0.1:%d" % grpc_port)
            stub = pb_grpc.BrokerServiceStub(channel)
            tenant = bytes.fromhex("7c4a1f9e3bd6470c8f3e21a65bd2e980")
            tl_a, tl_b = b"a" * 16, b"b" * 16

            def info(sk, tl, commit):
                return pb.SafekeeperTimelineInfo(
                    safekeeper_id=sk,
                    tenant_timeline_id=pb.TenantTimelineId(tenant_id=tenant, timeline_id=tl),
                    term=2, last_log_term=2, flush_lsn=commit, commit_lsn=commit,
                    safekeeper_connstr="127.0.0.1:5454", http_connstr="127.0.0.1:7676",
                    availability_zone="az-py")

            all_req = pb.SubscribeSafekeeperInfoRequest(all=pb.google_dot_protobuf_dot_empty__pb2.Empty())
            one_req = pb.SubscribeSafekeeperInfoRequest(
                tenant_timeline_id=pb.TenantTimelineId(tenant_id=tenant, timeline_id=tl_a))
            all_stream = stub.SubscribeSafekeeperInfo(all_req, timeout=30)
            one_stream = stub.SubscribeSafekeeperInfo(one_req, timeout=30)
            all_got, one_got = [], []
            all_done, one_done = threading.Event(), threading.Event()
            want_all = {(1, b"a"): 20, (2, b"a"): 5, (1, b"b"): 7}
            want_one = {(1, b"a"): 20, (2, b"a"): 5}
            threading.Thread(target=collect, args=(all_stream, all_got, want_all, all_done),
                             daemon=True).start()
            threading.Thread(target=collect, args=(one_stream, one_got, want_one, one_done),
                             daemon=True).start()

            deadline = time.time() + 10
            while True:
                status, body = http_get(http_port, "/v1/status")
                if status == 200 and json.loads(body).get("subscribers") == 2:
                    break
                if time.time() > deadline:
                    fail("subscriptions not registered: " + body)
                time.sleep(0.02)

            stub.PublishSafekeeperInfo(iter([info(1, tl_a, 10), info(2, tl_a, 5), info(1, tl_b, 7),
                                             info(1, tl_a, 20)]), timeout=30)
            if not all_done.wait(20) or not one_done.wait(20):
                fail("updates did not arrive: all=%r one=%r" % (all_got, one_got))
            for got in (all_got, one_got):
                if any(k == "error" for k, _, _ in got):
                    fail("stream error: %r" % got)
            if any(k[1] != b"a" for k, _, _ in one_got):
                fail("filtered subscriber got another timeline: %r" % one_got)
            if any(az != "az-py" for _, _, az in all_got):
                fail("availability_zone lost: %r" % all_got)
            all_stream.cancel()
            one_stream.cancel()

            # A malformed update is refused with INVALID_ARGUMENT.
            bad = info(1, b"short", 1)
            try:
                stub.PublishSafekeeperInfo(iter([bad]), timeout=10)
                fail("malformed tenant_timeline_id accepted")
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    fail("malformed update: %s" % e.code())

            status, metrics = http_get(http_port, "/metrics")
            if status != 200 or "storage_broker_published_messages_total 4" not in metrics:
                fail("metrics: %d %s" % (status, metrics))
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                fail("broker did not stop on SIGTERM")
        if rc != 0:
            fail("broker exit status %d" % rc)
    print("storage_broker python client: OK")


if __name__ == "__main__":
    main()
