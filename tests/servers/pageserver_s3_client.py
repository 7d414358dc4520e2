#!/usr/bin/env python3
# Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
#
# The pageserver on real S3 (s3rver from npm, scripts/install-test-peers.sh) with a control
# plane stub (Python's http.server) answering the generation validation upcall:
#   1. node A (generation 1) creates a tenant and a root timeline (initdb bootstrap); the
#      layers and index_part.json land in the bucket; compaction and GC make it delete
#      objects, which it does only after POST /upcall/v1/validate said its generation is
#      current (the stub records the calls);
#   2. node B, a fresh work directory on the same bucket, attaches the tenant with
#      generation 2 (location_config AttachedSingle), finds the timeline in index_part.json,
#      downloads what it reads, and serves pg_class through gRPC with the same bytes A served;
#   3. A, now stale (the stub says generation 1 is no longer valid), must not delete B's
#      objects: its deletions are dropped.
#   4. Secondary locations and re-attach (the stub also answers POST /upcall/v1/re-attach
#      like Neon's storage controller: generations of the shards attached to the node go up
#      by one; secondaries are listed with gen null; anything else must be dropped):
#      A turns secondary and downloads the heatmap B uploaded; A restarts and stays
#      secondary; A takes over with generation 3 and finds every layer local (nothing
#      downloaded at attach), serving the same pages; B, no longer listed for the tenant,
#      restarts and drops its copy; A restarts with generation 4.
#
# usage: pageserver_s3_client.py --pageserver BIN --s3rver BIN --proto FILE --protoc BIN
#            --grpc-python-plugin BIN

import argparse
import http.server as http_server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from pageserver_client_util import fail, generate_stubs, http, start_pageserver, wait_for

TENANT = "6f6d357410b7de754b1d90013aa8fcc9"
TIMELINE = "7b49cc1814412c7e592dd6e9de200bd4"
BUCKET = "neon-ps"


def start_s3rver(binary, tmp):
    log_path = os.path.join(tmp, "s3rver.log")
    data = os.path.join(tmp, "s3data")
    os.makedirs(data)
    env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
    proc = subprocess.Popen([binary, "--directory", data, "--address", "127.0.0.1", "--port",
                             "0", "--configure-bucket", BUCKET],
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env)
    m = wait_for(log_path, proc, r"listening on port (\d+)|:(\d+)\b", "s3rver")
    port = int(m.group(1) or m.group(2))
    return proc, port


class ControlPlane(http_server.BaseHTTPRequestHandler):
    current = {}      # tenant_shard_id -> current generation
    attached_on = {}  # tenant_shard_id -> node id holding the current generation
    secondary_on = {}  # tenant_shard_id -> node id with a secondary intent
    calls = []        # (tenant, gen, answered valid)
    reattach = []     # request bodies
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        cp = ControlPlane
        if self.path == "/upcall/v1/validate":
            out = []
            with cp.lock:
                for t in body["tenants"]:
                    valid = cp.current.get(t["id"]) == t["gen"]
                    cp.calls.append((t["id"], t["gen"], valid))
                    out.append({"id": t["id"], "valid": valid})
        elif self.path == "/upcall/v1/re-attach":
            out = []
            with cp.lock:
                cp.reattach.append(body)
                for tenant, node in cp.attached_on.items():
                    if node == body["node_id"]:
                        cp.current[tenant] += 1
                        out.append({"id": tenant, "gen": cp.current[tenant],
                                    "mode": "AttachedSingle", "stripe_size": 0})
                for tenant, node in cp.secondary_on.items():
                    if node == body["node_id"]:
                        out.append({"id": tenant, "gen": None, "mode": "Secondary",
                                    "stripe_size": 0})
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps({"tenants": out}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def start_s3_pageserver(binary, workdir, log_path, s3_port, cp_port, node_id):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER")
    return start_pageserver(binary, workdir, log_path,
                            ["--id=%d" % node_id, "--broker-endpoint=none",
                             "--remote-storage-s3-bucket=" + BUCKET,
                             "--remote-storage-s3-endpoint=http://127.0.0.1:%d" % s3_port,
                             "--remote-storage-s3-prefix=pageserver/",
                             "--control-plane-api=http://127.0.0.1:%d/upcall/v1/" % cp_port],
                            env)


def bucket_keys(tmp):
    root = os.path.join(tmp, "s3data", BUCKET)
    keys = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            keys.append(os.path.relpath(os.path.join(dirpath, f), root))
    return keys


def main():
    p = argparse.ArgumentParser()
    for a in ("--pageserver", "--s3rver", "--proto", "--protoc", "--grpc-python-plugin"):
        p.add_argument(a, required=True)
    args = p.parse_args()
    if not os.path.exists(args.s3rver):
        fail("s3rver not found at %s: run scripts/install-test-peers.sh" % args.s3rver)
    tmp = tempfile.mkdtemp(prefix="neon_ps_s3.")
    procs = []
    try:
        generate_stubs(args, tmp)
        import grpc
        import page_service_pb2 as pb
        import page_service_pb2_grpc as pb_grpc

        s3, s3_port = start_s3rver(args.s3rver, tmp)
        procs.append(s3)
        cp = http_server.ThreadingHTTPServer(("127.0.0.1", 0), ControlPlane)
        threading.Thread(target=cp.serve_forever, daemon=True).start()
        cp_port = cp.server_address[1]

        def pg_class(grpc_port):
            channel = grpc.insecure_channel("127.0.0.1:%d" % grpc_port)
            stub = pb_grpc.PageServiceStub(channel)
            md = [("neon-tenant-id", TENANT), ("neon-timeline-id", TIMELINE)]
            rel = pb.RelTag(spc_oid=1663, db_oid=1, rel_number=1259, fork_number=0)
            lsn = pb.ReadLsn(request_lsn=100000000, not_modified_since_lsn=1)
            size = stub.GetRelSize(pb.GetRelSizeRequest(read_lsn=lsn, rel=rel), metadata=md,
                                   timeout=60)
            reqs = [pb.GetPageRequest(request_id=pb.RequestID(id=1), read_lsn=lsn, rel=rel,
                                      block_number=list(range(size.num_blocks)))]
            answers = list(stub.GetPages(iter(reqs), metadata=md, timeout=60))
            channel.close()
            if len(answers) != 1 or answers[0].status_code != pb.GET_PAGE_STATUS_CODE_OK:
                fail("GetPages: %s" % [(a.status_code, a.reason) for a in answers])
            return [pg.image for pg in answers[0].page]

        # 1. Node A, generation 1.
        ControlPlane.current[TENANT] = 1
        a, a_grpc, a_http = start_s3_pageserver(args.pageserver, tmp + "/a", tmp + "/a.log",
                                             s3_port, cp_port, 1)
        procs.append(a)
        if ControlPlane.reattach != [{"node_id": 1, "empty_local_disk": True}]:
            fail("re-attach of a new node: %s" % ControlPlane.reattach)
        ControlPlane.attached_on[TENANT] = 1
        st, body = http(a_http, "PUT", "/v1/tenant/%s/location_config" % TENANT,
                        {"mode": "AttachedSingle", "generation": 1})
        if st != 200:
            fail("attach on A: %d %s" % (st, body))
        st, body = http(a_http, "POST", "/v1/tenant/%s/timeline" % TENANT,
                        {"new_timeline_id": TIMELINE, "pg_version": 15})
        if st != 201:
            fail("create timeline on A: %d %s" % (st, body))
        keys = bucket_keys(tmp)
        if not any(k.endswith("index_part.json-00000001") or "index_part.json" in k for k in keys):
            fail("no index_part.json in the bucket: %s" % keys)
        pages_a = pg_class(a_grpc)
        # Make A delete objects: checkpoint + compaction replaces L0 layers.
        for op in ("checkpoint", "compact"):
            st, body = http(a_http, "PUT", "/v1/tenant/%s/timeline/%s/%s" % (TENANT, TIMELINE, op))
            if st != 200:
                fail("%s on A: %d %s" % (op, st, body))
        deadline = time.time() + 60
        while time.time() < deadline and not ControlPlane.calls:
            time.sleep(0.1)
        with ControlPlane.lock:
            if not ControlPlane.calls or not all(c[2] for c in ControlPlane.calls):
                fail("A's deletions were not validated: %s" % ControlPlane.calls)
            if ControlPlane.calls[0][0] != TENANT or ControlPlane.calls[0][1] != 1:
                fail("validate call: %s" % (ControlPlane.calls[0],))

        # 2. Node B takes over with generation 2.
        ControlPlane.current[TENANT] = 2
        b, b_grpc, b_http = start_s3_pageserver(args.pageserver, tmp + "/b", tmp + "/b.log",
                                             s3_port, cp_port, 2)
        procs.append(b)
        ControlPlane.attached_on[TENANT] = 2
        st, body = http(b_http, "PUT", "/v1/location_config/%s" % TENANT,
                        {"mode": "AttachedSingle", "generation": 2})
        if st != 200:
            fail("attach on B: %d %s" % (st, body))
        st, body = http(b_http, "GET", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
        if st != 200:
            fail("B does not see the timeline: %d %s" % (st, body))
        pages_b = pg_class(b_grpc)
        if pages_b != pages_a:
            fail("B serves different pg_class pages than A")

        # 3. A is stale: deleting the timeline there is refused (409) after the control plane
        # says generation 1 is no longer current, and nothing is deleted from the bucket.
        before = len(ControlPlane.calls)
        keys_before = set(bucket_keys(tmp))
        st, body = http(a_http, "DELETE", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
        if st != 409 or "no longer current" not in body.get("msg", ""):
            fail("stale delete on A: %d %s" % (st, body))
        deadline = time.time() + 60
        stale = []
        while time.time() < deadline and not stale:
            time.sleep(0.1)
            with ControlPlane.lock:
                stale = [c for c in ControlPlane.calls[before:] if c[1] == 1]
        if not stale:
            fail("A never asked to validate its generation")
        if any(c[2] for c in stale):
            fail("generation 1 validated after B took over: %s" % stale)
        time.sleep(1)
        missing = keys_before - set(bucket_keys(tmp))
        if missing:
            fail("the stale node deleted objects: %s" % sorted(missing))
        # B still serves the same pages.
        if pg_class(b_grpc) != pages_a:
            fail("B's pages changed after A's stale deletion")

        # 4. Secondary locations and re-attach.
        def stop(proc):
            proc.send_signal(15)
            if proc.wait(timeout=60) != 0:
                fail("pageserver exit status %d" % proc.returncode)

        def timeline_sizes(port):
            st, body = http(port, "GET", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
            if st != 200:
                fail("timeline: %d %s" % (st, body))
            return body["timeline_dir_layer_file_size_sum"], body["current_physical_size"]

        st, body = http(a_http, "PUT", "/v1/tenant/%s/location_config" % TENANT,
                        {"mode": "Secondary", "secondary_conf": {"warm": True}})
        if st != 200:
            fail("A to secondary: %d %s" % (st, body))
        ControlPlane.secondary_on[TENANT] = 1
        st, body = http(a_http, "GET", "/v1/location_config/%s" % TENANT)
        if st != 200 or body["mode"] != "Secondary" or body["secondary_conf"] != {"warm": True}:
            fail("A's location config: %d %s" % (st, body))
        if http(a_http, "GET", "/v1/tenant/%s" % TENANT)[0] != 404:
            fail("a secondary location answers tenant GET")
        st, body = http(b_http, "POST", "/v1/tenant/%s/heatmap_upload" % TENANT)
        if st != 200:
            fail("heatmap upload on B: %d %s" % (st, body))
        st, prog = http(a_http, "POST", "/v1/tenant/%s/secondary/download?wait_ms=60000" % TENANT)
        if st != 200 or prog["layers_total"] == 0 or \
                prog["layers_downloaded"] != prog["layers_total"] or \
                prog["bytes_downloaded"] != prog["bytes_total"] or prog["heatmap_generation"] != 2:
            fail("secondary download on A: %d %s" % (st, prog))
        if http(a_http, "POST", "/v1/tenant/%s/secondary/download?wait_ms=x" % TENANT)[0] != 400:
            fail("a bad wait_ms is not refused")
        if http(b_http, "GET", "/v1/tenant/%s/secondary/status" % TENANT)[0] != 404:
            fail("secondary status of an attached location")

        stop(a)  # restart: re-attach lists the secondary, which keeps its layers
        a, a_grpc, a_http = start_s3_pageserver(args.pageserver, tmp + "/a", tmp + "/a2.log",
                                             s3_port, cp_port, 1)
        procs.append(a)
        if ControlPlane.reattach[-1] != {"node_id": 1, "empty_local_disk": False}:
            fail("re-attach after restart: %s" % ControlPlane.reattach[-1])
        st, body = http(a_http, "GET", "/v1/tenant/%s/secondary/status" % TENANT)
        if st != 200 or body["layers_total"] != prog["layers_total"]:
            fail("A's secondary after restart: %d %s" % (st, body))

        # A takes over: the secondary's layers are used in place.
        with ControlPlane.lock:
            ControlPlane.current[TENANT] = 3
            ControlPlane.attached_on[TENANT] = 1
            del ControlPlane.secondary_on[TENANT]
        st, body = http(a_http, "PUT", "/v1/tenant/%s/location_config" % TENANT,
                        {"mode": "AttachedSingle", "generation": 3})
        if st != 200:
            fail("attach on A with generation 3: %d %s" % (st, body))
        # Local at attach: exactly the heatmap's layers (what B had read), no download.
        resident, physical = timeline_sizes(a_http)
        if resident != prog["bytes_total"] or resident > physical:
            fail("A attached with %d of %d layer bytes local (the heatmap listed %d)" %
                 (resident, physical, prog["bytes_total"]))
        if pg_class(a_grpc) != pages_a:
            fail("A serves different pages after taking over")
        if timeline_sizes(a_http)[0] != resident:
            fail("reading what B had read downloaded layers on A")

        # B is not listed for the tenant any more: its restart drops it.
        st, body = http(b_http, "PUT", "/v1/tenant/%s/location_config" % TENANT,
                        {"mode": "Secondary"})
        if st != 200:
            fail("B to secondary: %d %s" % (st, body))
        stop(b)
        b, b_grpc, b_http = start_s3_pageserver(args.pageserver, tmp + "/b", tmp + "/b2.log",
                                             s3_port, cp_port, 2)
        procs.append(b)
        if http(b_http, "GET", "/v1/location_config/%s" % TENANT)[0] != 404 or \
                os.path.exists(os.path.join(tmp, "b", "engine", "tenants", TENANT)):
            fail("B kept a tenant re-attach did not list")
        if "event=re_attached" not in open(tmp + "/b2.log").read():
            fail("B's log has no re_attached line")

        # A restarts: generation 4, same pages.
        stop(a)
        a, a_grpc, a_http = start_s3_pageserver(args.pageserver, tmp + "/a", tmp + "/a3.log",
                                             s3_port, cp_port, 1)
        procs.append(a)
        st, body = http(a_http, "GET", "/v1/tenant/%s" % TENANT)
        if st != 200 or body.get("generation") != 4:
            fail("A after re-attach: %d %s" % (st, body))
        if pg_class(a_grpc) != pages_a:
            fail("A serves different pages after re-attach")

        # A (current) may delete.
        st, body = http(a_http, "DELETE", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
        if st != 200:
            fail("delete on A: %d %s" % (st, body))
        if any("timelines/%s" % TIMELINE in k for k in bucket_keys(tmp)):
            fail("A's timeline deletion left objects: %s" % bucket_keys(tmp))
        for proc in (a, b):
            proc.send_signal(15)
            if proc.wait(timeout=60) != 0:
                fail("pageserver exit status %d" % proc.returncode)
        print("OK: %d objects in S3; %d validation calls (%d from the stale node refused); "
              "B attached with generation 2 and served %d identical pg_class pages; A's warm "
              "secondary held B's %d hot layers (%d of %d bytes) and took over serving them "
              "with no download; %d re-attach calls" %
              (len(keys_before), len(ControlPlane.calls), len(stale), len(pages_b),
               prog["layers_total"], prog["bytes_total"], physical, len(ControlPlane.reattach)))
        cp.shutdown()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
