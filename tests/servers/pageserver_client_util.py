# Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
#
# Shared by the Python pageserver clients (pageserver_*_client.py): stub generation with
# Debian's protoc and grpc_python_plugin, starting a server and reading its ports from its log,
# and JSON over HTTP with the standard library.

import json
import os
import re
import subprocess
import sys
import time
import urllib.request


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def generate_stubs(args, out_dir):
    """Generates the Python modules of args.proto into out_dir and makes them importable."""
    proto_dir = os.path.dirname(os.path.abspath(args.proto))
    subprocess.run([args.protoc, "-I", proto_dir, "-I", "/usr/include",
                    "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
                    "--plugin=protoc-gen-grpc_python=" + args.grpc_python_plugin,
                    os.path.abspath(args.proto)], check=True)
    sys.path.insert(0, out_dir)


def wait_for(log_path, proc, pattern, what):
    """The first match of `pattern` in the log of `proc` (fails after 60 s or if it exits)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        text = open(log_path).read()
        m = re.search(pattern, text)
        if m:
            return m
        if proc.poll() is not None:
            fail("%s exited: %s" % (what, text))
        time.sleep(0.02)
    proc.kill()
    fail("%s did not start: %s" % (what, open(log_path).read()))


def start_pageserver(binary, workdir, log_path, extra_args=(), env=None):
    """Starts the pageserver on free ports; returns (process, grpc_port, http_port)."""
    proc = subprocess.Popen([binary, "--workdir=" + workdir, "--listen-http-addr=127.0.0.1:0",
                             "--listen-grpc-addr=127.0.0.1:0"] + list(extra_args),
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env)
    m = wait_for(log_path, proc, r"event=started .*grpc_port=(\d+) .*http_port=(\d+)",
                 "pageserver")
    return proc, int(m.group(1)), int(m.group(2))


def http(port, method, path, body=None, token=None):
    """(status, parsed JSON body) of a request to 127.0.0.1:port."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
