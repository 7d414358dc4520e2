#!/usr/bin/env python3
# Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
#
# JWT auth of the pageserver checked by an independent implementation: PyJWT (Debian's
# python3-jwt, EdDSA through python3-cryptography) mints the tokens. Starts the pageserver
# with --public-key, then on both ports (HTTP management API and gRPC page service):
#   missing, expired, wrongly signed, wrong-scope and wrong-tenant tokens are refused
#   (HTTP 401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED) and change nothing;
#   a `pageserverapi` token and a `tenant` token for the right tenant are accepted.
#
# usage: pageserver_pyjwt_client.py --pageserver BIN --proto FILE --protoc BIN
#            --grpc-python-plugin BIN

import argparse
import os
import shutil
import tempfile
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pageserver_client_util import fail, generate_stubs, http, start_pageserver

TENANT = "2f6d357410b7de754b1d90013aa8fcc7"
OTHER_TENANT = "8f6d357410b7de754b1d90013aa8fcc8"
TIMELINE = "5b49cc1814412c7e592dd6e9de200bd3"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pageserver", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--protoc", required=True)
    p.add_argument("--grpc-python-plugin", required=True)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="neon_ps_jwt.")
    os.chmod(tmp, 0o755)
    try:
        generate_stubs(args, tmp)
        import grpc
        import page_service_pb2 as pb
        import page_service_pb2_grpc as pb_grpc

        key = Ed25519PrivateKey.generate()
        other_key = Ed25519PrivateKey.generate()
        pub_path = os.path.join(tmp, "auth_public_key.pem")
        with open(pub_path, "wb") as f:
            f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))

        def token(claims, signer=key):
            return jwt.encode(claims, signer, algorithm="EdDSA")

        admin = token({"scope": "pageserverapi"})
        tokens_refused = {
            "expired": (token({"scope": "pageserverapi", "exp": int(time.time()) - 60}), 401),
            "wrongly signed": (token({"scope": "pageserverapi"}, other_key), 401),
            "wrong scope": (token({"scope": "safekeeperdata"}), 403),
            "wrong tenant": (token({"scope": "tenant", "tenant_id": OTHER_TENANT}), 403),
            "garbage": ("not.a.jwt", 401),
        }

        proc, grpc_port, http_port = start_pageserver(
            args.pageserver, tmp + "/ps", tmp + "/ps.log",
            ["--broker-endpoint=none", "--public-key=" + pub_path])
        try:
            # HTTP: nothing without a good token.
            st, body = http(http_port, "POST", "/v1/tenant", {"new_tenant_id": TENANT})
            if st != 401 or "msg" not in body:
                fail("no token: %d %s" % (st, body))
            for name, (tok, want) in tokens_refused.items():
                st, body = http(http_port, "POST", "/v1/tenant", {"new_tenant_id": TENANT}, tok)
                # A tenant token is never enough to create tenants: 403 for both tenant cases.
                if st != want or "msg" not in body:
                    fail("%s token on POST /v1/tenant: %d %s" % (name, st, body))
            st, body = http(http_port, "GET", "/v1/tenant", token=admin)
            if st != 200 or body != []:
                fail("refused requests changed something: %d %s" % (st, body))
            st, body = http(http_port, "POST", "/v1/tenant", {"new_tenant_id": TENANT}, admin)
            if st != 201:
                fail("admin create tenant: %d %s" % (st, body))
            st, body = http(http_port, "POST", "/v1/tenant/%s/timeline" % TENANT,
                            {"new_timeline_id": TIMELINE, "pg_version": 15}, admin)
            if st != 201:
                fail("admin create timeline: %d %s" % (st, body))
            own = token({"scope": "tenant", "tenant_id": TENANT})
            st, body = http(http_port, "GET", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE),
                            token=own)
            if st != 200:
                fail("tenant token on its own timeline: %d %s" % (st, body))
            for name, (tok, want) in tokens_refused.items():
                st, body = http(http_port, "GET", "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE),
                                token=tok)
                if st != want:
                    fail("%s token on GET timeline: %d %s" % (name, st, body))

            # gRPC: the same tokens in the authorization metadata.
            channel = grpc.insecure_channel("127.0.0.1:%d" % grpc_port)
            stub = pb_grpc.PageServiceStub(channel)
            rel = pb.RelTag(spc_oid=1663, db_oid=1, rel_number=1259, fork_number=0)
            req = pb.GetRelSizeRequest(
                read_lsn=pb.ReadLsn(request_lsn=100000000, not_modified_since_lsn=1), rel=rel)

            def call(tok):
                md = [("neon-tenant-id", TENANT), ("neon-timeline-id", TIMELINE)]
                if tok is not None:
                    md.append(("authorization", "Bearer " + tok))
                return stub.GetRelSize(req, metadata=md, timeout=30)

            codes = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
            for name, (tok, want) in list(tokens_refused.items()) + [("missing", (None, 401))]:
                try:
                    call(tok)
                    fail("gRPC accepted the %s token" % name)
                except grpc.RpcError as e:
                    if e.code() != codes[want]:
                        fail("gRPC %s token: %s %s" % (name, e.code(), e.details()))
            for name, tok in (("pageserverapi", admin), ("own tenant", own)):
                size = call(tok)
                if size.num_blocks <= 0:
                    fail("gRPC with the %s token: %s" % (name, size))
            channel.close()
        finally:
            proc.send_signal(15)
            rc = proc.wait(timeout=30)
        if rc != 0:
            fail("pageserver exit status %d: %s" % (rc, open(tmp + "/ps.log").read()))
        print("OK: %d kinds of bad tokens refused on HTTP and gRPC; good tokens accepted" %
              (len(tokens_refused) + 1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
