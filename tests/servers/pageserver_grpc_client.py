#!/usr/bin/env python3
# Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
#
# An independent client for the pageserver: Python grpcio (Debian's python3-grpcio) with stubs
# generated here from lib/remote/proto/page_service.proto, and plain HTTP from the standard
# library. Starts the pageserver on free ports in a scratch work directory, creates a tenant
# and a root timeline (initdb bootstrap) over HTTP, sends the seed's requests (GetDbSize with
# read_lsn {request_lsn: 100000000, not_modified_since_lsn: 1}, GetRelSize for rel
# {1663, 1, 1259, 0}, LeaseLsn, one GetPages batch) and checks the answers, then stops the
# server with SIGTERM (exit status 0 expected).
#
# usage: pageserver_grpc_client.py --pageserver BIN --proto FILE --protoc BIN
#            --grpc-python-plugin BIN

import argparse
import shutil
import tempfile
import time

from pageserver_client_util import fail, generate_stubs, http, start_pageserver

TENANT = "1f6d357410b7de754b1d90013aa8fcc6"
TIMELINE = "4b49cc1814412c7e592dd6e9de200bd2"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pageserver", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--protoc", required=True)
    p.add_argument("--grpc-python-plugin", required=True)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="neon_ps_py.")
    try:
        generate_stubs(args, tmp)
        import grpc
        import page_service_pb2 as pb
        import page_service_pb2_grpc as pb_grpc

        proc, grpc_port, http_port = start_pageserver(args.pageserver, tmp + "/ps", tmp + "/ps.log")
        try:
            st, body = http(http_port, "POST", "/v1/tenant", {"new_tenant_id": TENANT})
            if st != 201:
                fail("create tenant: %d %s" % (st, body))
            st, body = http(http_port, "POST", "/v1/tenant/%s/timeline" % TENANT,
                            {"new_timeline_id": TIMELINE, "pg_version": 15})
            if st != 201:
                fail("create timeline: %d %s" % (st, body))
            st, bad = http(http_port, "POST", "/v1/tenant/%s/timeline" % TENANT, {"x": 1})
            if st != 400 or "msg" not in bad:
                fail("bad create: %d %s" % (st, bad))
            hi, lo = body["last_record_lsn"].split("/")
            last = (int(hi, 16) << 32) | int(lo, 16)

            channel = grpc.insecure_channel("127.0.0.1:%d" % grpc_port)
            stub = pb_grpc.PageServiceStub(channel)
            md = [("neon-tenant-id", TENANT), ("neon-timeline-id", TIMELINE),
                  ("neon-shard-id", "0000")]
            seed_lsn = pb.ReadLsn(request_lsn=100000000, not_modified_since_lsn=1)
            db = stub.GetDbSize(pb.GetDbSizeRequest(read_lsn=seed_lsn, db_oid=1), metadata=md,
                                timeout=30)
            if db.num_bytes <= 0 or db.num_bytes % 8192:
                fail("GetDbSize: %d" % db.num_bytes)
            rel = pb.RelTag(spc_oid=1663, db_oid=1, rel_number=1259, fork_number=0)
            size = stub.GetRelSize(pb.GetRelSizeRequest(read_lsn=seed_lsn, rel=rel), metadata=md,
                                   timeout=30)
            if size.num_blocks <= 0 or size.missing:
                fail("GetRelSize: %s" % size)
            missing = stub.GetRelSize(
                pb.GetRelSizeRequest(read_lsn=seed_lsn, allow_missing=True,
                                     rel=pb.RelTag(spc_oid=1663, db_oid=1, rel_number=999999)),
                metadata=md, timeout=30)
            if not missing.missing:
                fail("GetRelSize allow_missing: %s" % missing)
            lease = stub.LeaseLsn(pb.LeaseLsnRequest(lsn=last), metadata=md, timeout=30)
            if lease.expires.seconds <= time.time():
                fail("LeaseLsn: %s" % lease)
            reqs = [pb.GetPageRequest(request_id=pb.RequestID(id=1), read_lsn=seed_lsn, rel=rel,
                                      block_number=list(range(size.num_blocks)))]
            answers = list(stub.GetPages(iter(reqs), metadata=md, timeout=30))
            if len(answers) != 1 or answers[0].status_code != pb.GET_PAGE_STATUS_CODE_OK:
                fail("GetPages: %s" % [(a.status_code, a.reason) for a in answers])
            if [len(pg.image) for pg in answers[0].page] != [8192] * size.num_blocks:
                fail("GetPages: wrong page sizes")
            try:
                stub.GetRelSize(pb.GetRelSizeRequest(read_lsn=seed_lsn, rel=rel),
                                metadata=[("neon-tenant-id", "12")], timeout=30)
                fail("bad metadata accepted")
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    fail("bad metadata: %s" % e.code())
            channel.close()
        finally:
            proc.send_signal(15)
            rc = proc.wait(timeout=30)
        if rc != 0:
            fail("pageserver exit status %d: %s" % (rc, open(tmp + "/ps.log").read()))
        print("OK: GetDbSize %d bytes, pg_class %d blocks" % (db.num_bytes, size.num_blocks))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
