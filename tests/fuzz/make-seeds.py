#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<harness>/: small real examples of every input
the harnesses take (specs, references, challenges, image documents, hostile tars, HTTP requests,
state records). Run it again after changing it; the files are committed."""
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


FULL_SPEC = {
    "id": "web-0", "app": "shop", "revision": 3, "image": "oci:/var/lib/drover/demo-image:latest",
    "command": ["httpd", "-f", "-p", "8080"], "env": {"A": "1", "PATH": "/bin"}, "workdir": "/srv",
    "user": "1000:1000",
    "files": [{"path": "/etc/app.conf", "content": "x=1\n", "mode": "0640"},
              {"path": "/srv/index.html", "content": "hi", "mode": 420}],
    "resources": {"cpu": "500m", "memory": "64Mi", "pids": 128},
    "qos": "batch", "network": {"mode": "bridge", "ports": [{"container": 8080, "host": 18080},
                                                          {"container": 53, "protocol": "udp"}]},
    "restart": "on-failure", "stop_grace_ms": 2000, "labels": {"team": "a"},
}
SPECS = {
    "readme": {"id": "web-0", "revision": 1, "image": "oci:/var/lib/drover/demo-image:latest",
               "command": ["httpd", "-f", "-p", "8080"],
               "resources": {"cpu": "500m", "memory": "64Mi", "pids": 128},
               "network": {"mode": "host"}, "restart": "on-failure"},
    "full": FULL_SPEC,
    "minimal": {"id": "a", "image": "busybox"},
    "registry": {"id": "r.1_x", "image": "127.0.0.1:5000/demo/web:1.0@sha256:" + "a" * 64,
                 "resources": {"cpu": 0.25, "memory": 1e9}, "network": {"mode": "none"}},
    "health": {"id": "h", "image": "busybox",
               "health": {"readiness": {"http": {"path": "/", "port": 80}, "interval_ms": 1000},
                          "liveness": {"exec": ["true"], "failure_threshold": 3}}},
    "bad-id": {"id": "Bad/ID", "image": "busybox"},
    "bad-quantity": {"id": "q", "image": "busybox", "resources": {"cpu": "1.5.5", "memory": "12Xi"}},
    "bad-file": {"id": "f", "image": "busybox", "files": [{"path": "/../etc/passwd", "content": ""}]},
}


def specs():
    for name, s in SPECS.items():
        put("fuzz_spec", name + ".json", json.dumps(s, indent=1))
    put("fuzz_spec", "dup-key.json", '{"id":"a","id":"b","image":"busybox"}')
    put("fuzz_spec", "nul.json", '{"id":"a\\u0000b","image":"busybox"}')


def spec_fields():
    for i, q in enumerate(["500m", "0.5", "2", "128Mi", "1G", "1e3", "1.5Gi", "9223372036854775807",
                           "0.000000001", "1Ki", "100k", "1Ei", ".5", "5."]):
        put("fuzz_spec_fields", "q%02d" % i, b"\x00" + q.encode())
    sections = [
        (0x80, {"cpu": "250m", "memory": "1Gi", "pids": 64}),
        (0x80, {"cpu": 1.5, "memory": 123456789}),
        (0x81, {"mode": "bridge", "ports": [{"container": 80, "host": 8080, "protocol": "tcp"}]}),
        (0x81, {"mode": "host"}),
        (0x82, {"readiness": {"tcp": {"port": 80}, "timeout_ms": 500, "initial_delay_ms": 10}}),
        (0x83, [{"path": "/a/b", "content": "x", "mode": "0755"}, {"path": "/c", "content": ""}]),
    ]
    for i, (sel, v) in enumerate(sections):
        put("fuzz_spec_fields", "s%02d" % i, bytes([sel]) + json.dumps(v).encode())


def refs():
    for i, r in enumerate(["busybox", "library/busybox:1.36", "docker.io/library/busybox:latest",
                           "quay.io/org/app@sha256:" + "0" * 64, "127.0.0.1:5000/demo/web:1.0",
                           "localhost/a/b/c:t", "[::1]:5000/x:y", "host:5000/a:b@sha256:" + "f" * 64,
                           "oci:/var/lib/drover/demo-image:latest", "/abs/layout", "./rel",
                           "UPPER/case", "a..b/c", "x:" + "t" * 130]):
        put("fuzz_img_ref", "r%02d" % i, r)


def challenges():
    for i, c in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
        'Basic realm="Registry Realm"', 'bearer realm="http://127.0.0.1:5001/token"',
        'Bearer realm="a\\"b",error="insufficient_scope"', 'Bearer service="x"', 'Negotiate abc',
        'Bearer realm=unquoted, scope=x', 'Basic']):
        put("fuzz_img_challenge", "c%d" % i, c)


def tar_bytes(entries, gz=False):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o644)
            ti.linkname = e.get("link", "")
            ti.devmajor, ti.devminor = e.get("dev", (0, 0))
            ti.uid = e.get("uid", 0)
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if ti.size else None)
    raw = bio.getvalue()
    return gzip.compress(raw, mtime=0) if gz else raw


D, L, H = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
TARS = {
    "normal": [{"name": "etc", "type": D, "mode": 0o755}, {"name": "etc/passwd", "data": b"root:x:0:0::/:/bin/sh\n"},
               {"name": "bin", "type": D}, {"name": "bin/sh", "data": b"\x7fELF", "mode": 0o755},
               {"name": "bin/ash", "type": H, "link": "bin/sh"}, {"name": "lib", "type": L, "link": "usr/lib"}],
    "dotdot": [{"name": "../canary/x", "data": b"escaped"}],
    "dotdot-mid": [{"name": "a", "type": D}, {"name": "a/../../canary/y", "data": b"escaped"}],
    "absolute": [{"name": "/tmp/canary/z", "data": b"escaped"}],
    "symlink-escape": [{"name": "out", "type": L, "link": "../canary"}, {"name": "out/x", "data": b"escaped"}],
    "symlink-abs": [{"name": "out", "type": L, "link": "/tmp/canary"}, {"name": "out/x", "data": b"escaped"}],
    "symlink-file": [{"name": "f", "type": L, "link": "../canary-file"}, {"name": "f", "data": b"overwritten"}],
    "hardlink-escape": [{"name": "h", "type": H, "link": "../canary-file"}],
    "hardlink-via-symlink": [{"name": "s", "type": L, "link": ".."}, {"name": "h", "type": H, "link": "s/canary-file"}],
    "devices": [{"name": "null", "type": tarfile.CHRTYPE, "dev": (1, 3)}, {"name": "sda", "type": tarfile.BLKTYPE, "dev": (8, 0)}],
    "fifo": [{"name": "p", "type": tarfile.FIFOTYPE}],
    "whiteouts": [{"name": "d", "type": D}, {"name": "d/.wh..wh..opq"}, {"name": ".wh.gone"}, {"name": "d/.wh.x"},
                  {"name": ".wh.."}, {"name": ".wh..wh.plnk"}],
    "setuid": [{"name": "su", "data": b"x", "mode": 0o4755, "uid": 4294967294}],
    "replace-dir-with-link": [{"name": "d", "type": D}, {"name": "d/f", "data": b"1"}, {"name": "d", "type": L, "link": "/"},
                              {"name": "d/g", "data": b"2"}],
}


def unpack():
    for name, ents in TARS.items():
        put("fuzz_img_unpack", name + ".tar", tar_bytes(ents))
    put("fuzz_img_unpack", "normal.tar.gz", tar_bytes(TARS["normal"], gz=True))
    put("fuzz_img_unpack", "dotdot.tar.gz", tar_bytes(TARS["dotdot"], gz=True))


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def docs():
    layer = tar_bytes(TARS["normal"], gz=True)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hi"], "Env": ["PATH=/bin"],
                                    "WorkingDir": "/", "User": "0:0"},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar_bytes(TARS["normal"]))]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "@3", "size": "#3"},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "@4", "size": "#4"}]}
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@2", "size": "#2",
                             "platform": {"os": "linux", "architecture": "amd64"}},
                            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "1" * 64,
                             "size": 10, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "@1",
                                                "size": "#1", "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}

    def j(o):  # placeholders stand unquoted where the size is a number
        s = json.dumps(o)
        for k in range(1, 9):
            s = s.replace('"#%d"' % k, "#%d" % k)
        return s.encode()
    chain = b"\n--\n".join([j(index), j(nested), j(manifest), config, layer])
    put("fuzz_img_docs", "chain-index-nested-manifest", chain)
    direct = dict(index, manifests=[dict(manifest_desc, digest="@1", size="#1") for manifest_desc in
                                     [{"mediaType": "application/vnd.oci.image.manifest.v1+json"}]])
    m2 = dict(manifest, config=dict(manifest["config"], digest="@2", size="#2"),
              layers=[dict(manifest["layers"][0], digest="@3", size="#3")])
    put("fuzz_img_docs", "chain-manifest", b"\n--\n".join([j(direct), j(m2), config, layer]))
    docker = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
              "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                         "digest": "sha256:" + "b" * 64},
              "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                          "digest": "sha256:" + "c" * 64}]}
    put("fuzz_img_docs", "docker-manifest", json.dumps(docker))
    mlist = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests": [{"mediaType": docker["mediaType"], "size": 7143, "digest": "sha256:" + "d" * 64,
                            "platform": {"architecture": a, "os": "linux", **({"variant": v} if v else {})}}
                           for a, v in [("amd64", None), ("arm", "v7"), ("arm64", "v8"), ("arm64", "")]]}
    put("fuzz_img_docs", "docker-list", json.dumps(mlist))
    put("fuzz_img_docs", "config", config)
    put("fuzz_img_docs", "config-nulls", json.dumps({"config": {"Entrypoint": None, "Cmd": None, "Env": None},
                                                     "rootfs": {"diff_ids": []}}))
    deep = [{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                "digest": "@%d" % (k + 1), "size": "#%d" % (k + 1)}]}
            for k in range(7)]
    put("fuzz_img_docs", "chain-too-deep", b"\n--\n".join(j(d) for d in deep) + b"\n--\n" + j(deep[0]))


def http(method, path, body=None, headers=()):
    h = "%s %s HTTP/1.1\r\nHost: drover\r\n" % (method, path)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    b = b""
    if body is not None:
        b = body.encode() if isinstance(body, str) else body
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
    return h.encode() + b"\r\n" + b


def api():
    spec = json.dumps({"image": "busybox", "command": ["sleep", "1"], "revision": 1})
    logs = (b"\n--log--\n2024-05-01T10:00:00.000000001Z stdout F hello\n"
            b"2024-05-01T10:00:01.5Z stderr P part\n2024-05-01T10:00:01.6Z stderr F ial\ngarbage\n")
    seeds = {
        "healthz": http("GET", "/v1/healthz"),
        "list": http("GET", "/v1/instances"),
        "node": http("GET", "/v1/node"),
        "metrics": http("GET", "/metrics"),
        "events": http("GET", "/v1/events?after=0"),
        "events-wait": http("PUT", "/v1/instances/web", spec) + http("GET", "/v1/events?after=99&wait=5"),
        "put-get-delete": http("PUT", "/v1/instances/web", spec) + http("GET", "/v1/instances/web")
        + http("DELETE", "/v1/instances/web") + http("GET", "/v1/instances/web"),
        "put-twice": http("PUT", "/v1/instances/a", spec) + http("PUT", "/v1/instances/a", spec)
        + http("PUT", "/v1/instances/a", json.dumps(dict(FULL_SPEC, id="a"))),
        "put-bad": http("PUT", "/v1/instances/web", '{"image": 5}') + http("PUT", "/v1/instances/x", "{nope")
        + http("PUT", "/v1/instances/Bad!", "{}") + http("PUT", "/v1/instances/a", '{"id":"b","image":"busybox"}'),
        "logs": http("PUT", "/v1/instances/web", spec) + http("GET", "/v1/instances/web/logs?tail=1&timestamps=1") + logs,
        "logs-follow": http("PUT", "/v1/instances/web", spec) + http("GET", "/v1/instances/web/logs?follow=1") + logs,
        "images": http("GET", "/v1/images") + http("POST", "/v1/images/pull", '{"ref":"busybox"}')
        + http("POST", "/v1/images/import", '{"path":"/tmp/x.tar"}'),
        "images-progress": http("POST", "/v1/images/pull?progress=1", '{"ref":"busybox"}'),
        "images-rm": http("PUT", "/v1/instances/web", spec) + http("DELETE", "/v1/images/busybox")
        + http("DELETE", "/v1/images/other") + http("POST", "/v1/images/prune", ""),
        "chunked": b"PUT /v1/instances/c HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n{\"ima\r\n15\r\nge\": \"busybox\"}     \r\n0\r\n\r\n",
        "unknown": http("PATCH", "/v1/instances/web") + http("GET", "/nope") + http("GET", "/v1/instances/web/nope"),
        "http10": b"GET /v1/healthz HTTP/1.0\r\n\r\n",
    }
    for name, data in seeds.items():
        put("fuzz_api", name, data)


def state():
    rec = {"spec": FULL_SPEC, "source": "api", "source_ref": None, "phase": "running", "reason": "",
           "message": "started", "restarts": 2, "has_exit": True, "exit_code": 137, "oom_killed": True,
           "started_at": 1714557600000000000, "finished_at": 0, "backoff_ms": 2000, "pid": 4242,
           "shim_pid": 4240, "shim_start": 123456, "removing": False, "image_digest": "sha256:" + "e" * 64,
           "ip": "10.88.0.5", "netns_path": "/run/drover/netns/web-0",
           "next_spec": dict(FULL_SPEC, revision=4)}
    put("fuzz_inst_state", "record", b"\x00" + json.dumps(rec).encode())
    put("fuzz_inst_state", "record-dir", b"\x00" + json.dumps({"spec": SPECS["minimal"], "source": "dir",
                                                                "source_ref": "a.json", "phase": "failed"}).encode())
    put("fuzz_inst_state", "record-bad", b"\x00" + json.dumps({"spec": SPECS["minimal"], "pid": "x"}).encode())
    put("fuzz_inst_state", "exit", b"\x01" + json.dumps({"exit_code": 1, "oom_killed": False,
                                                          "finished_at": 1714557600000000000}).encode())
    put("fuzz_inst_state", "exit-signal", b"\x01" + json.dumps({"exit_code": 137, "oom_killed": True}).encode())
    put("fuzz_inst_state", "exit-bad", b"\x01" + b'{"exit_code": 1e99, "finished_at": -5}')


def assignments():
    put("fuzz_assignments", "readme", "web-0.json\n" + json.dumps(SPECS["readme"], indent=2))
    put("fuzz_assignments", "full", "full.json\n" + json.dumps(FULL_SPEC))
    put("fuzz_assignments", "invalid", "broken.json\n{\"id\": \"web-1\", \"image\": ")
    put("fuzz_assignments", "invalid-name", "Weird Name!.json\n[]")
    put("fuzz_assignments", "no-id", "x.json\n{\"image\": \"busybox\"}")


def resp(status, headers, body=b""):
    h = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % kv for kv in headers)
    return h.encode() + b"\r\n" + (body.encode() if isinstance(body, str) else body)


def registry():
    layer = tar_bytes(TARS["normal"], gz=True)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar_bytes(TARS["normal"]))]}})
    oci = "application/vnd.oci.image.manifest.v1+json"

    def manifest(c, l):
        return ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
                '"digest":"@%d","size":#%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'
                '"digest":"@%d","size":#%d}]}' % (oci, c, c, l, l))
    bearer = resp("401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:@P/token",service="fuzz"'),
                                       ("Content-Length", "0")])
    token = resp("200 OK", [("Content-Type", "application/json")], '{"token":"abc","expires_in":300}')
    ok = [("Content-Type", oci), ("Docker-Content-Digest", "sha256:x")]
    blob = [("Content-Type", "application/octet-stream")]
    chains = {
        "bearer": [bearer, token, resp("200 OK", ok, manifest(3, 4)), resp("200 OK", blob, config),
                   resp("200 OK", blob, layer)],
        "open": [resp("200 OK", [("Content-Length", "2")], "{}"), resp("200 OK", ok, manifest(2, 3)),
                 resp("200 OK", blob, config), resp("200 OK", blob, layer)],
        "basic": [resp("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="r"')]), resp("200 OK", ok, manifest(2, 3)),
                  resp("200 OK", blob, config), resp("200 OK", blob, layer)],
        "index": [resp("200 OK", []),
                  resp("200 OK", [("Content-Type", "application/vnd.oci.image.index.v1+json")],
                       '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
                       '{"mediaType":"%s","digest":"@2","size":#2,"platform":{"os":"linux","architecture":"amd64"}}]}' % oci),
                  resp("200 OK", ok, manifest(3, 4)), resp("200 OK", blob, config), resp("200 OK", blob, layer)],
        "redirect": [resp("200 OK", []), resp("200 OK", ok, manifest(2, 3)),
                     resp("307 Temporary Redirect", [("Location", "http://other.example:9/blob")]),
                     resp("200 OK", blob, config), resp("200 OK", blob, layer)],
        "errors": [resp("200 OK", []), resp("404 Not Found", [("Content-Type", "application/json")],
                                             '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')],
        "retry": [resp("503 Service Unavailable", []), resp("200 OK", []), resp("429 Too Many Requests", []),
                  resp("200 OK", ok, manifest(4, 5)), resp("500 Oops", []), resp("200 OK", blob, config),
                  resp("200 OK", blob, layer)],
        "chunked": [resp("200 OK", []), resp("200 OK", ok + [("Transfer-Encoding", "chunked")],
                                             "5\r\n{\"sch\r\n0\r\n\r\n")],
    }
    for name, rs in chains.items():
        put("fuzz_img_registry", name, b"\n--\n".join(rs))


def tar_of(files):
    """A plain tar of (name, bytes) pairs, as `docker save` writes."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def docker_save():
    layer = tar_bytes(TARS["normal"])
    lid = hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"], "Env": ["A=1"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lid]}}).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"

    def save(manifest, extra=()):
        return tar_of([(cname, config), (lid + "/layer.tar", layer),
                       ("manifest.json", json.dumps(manifest).encode())] + list(extra))
    good = [{"Config": cname, "RepoTags": ["busybox:latest", "127.0.0.1:5000/a/b:1", "Bad Tag"],
             "Layers": [lid + "/layer.tar"]}]
    put("fuzz_img_import", "save.tar", save(good))
    put("fuzz_img_import", "save-dotslash.tar", save([dict(good[0], Layers=["./" + lid + "/layer.tar"])]))
    put("fuzz_img_import", "save-missing-layer.tar", save([dict(good[0], Layers=["nope/layer.tar"])]))
    put("fuzz_img_import", "save-two-images.tar", save(good * 2))
    put("fuzz_img_import", "save-hostile-layer.tar",
        tar_of([("manifest.json", json.dumps([dict(good[0], Layers=["l.tar"])]).encode()),
                (cname, config), ("l.tar", tar_bytes(TARS["symlink-escape"]))]))


def etcd():
    import base64

    def b64(x):
        return base64.b64encode(x.encode()).decode()
    hdr = {"cluster_id": "1", "member_id": "2", "revision": "6", "raft_term": "2"}
    key = "/drover/nodes/n1/instances/web"
    kv = {"key": b64(key), "create_revision": "2", "mod_revision": "5", "version": "4",
          "value": b64(json.dumps(SPECS["minimal"]))}
    seeds = {
        "range": (0, {"header": hdr, "kvs": [kv, dict(kv, key=b64(key + "2"), lease="77")], "count": "2", "more": True}),
        "range-empty": (0, {"header": hdr}),
        "range-compacted": (0, {"error": "etcdserver: mvcc: required revision has been compacted", "code": 11}),
        "grant": (1, {"header": hdr, "ID": "2324035756376023814", "TTL": "10"}),
        "keepalive": (2, {"result": {"header": hdr, "ID": "2324035756376023814", "TTL": "10"}}),
        "keepalive-gone": (2, {"result": {"header": hdr, "ID": "5"}}),
        "header": (3, {"header": hdr}),
        "header-error": (3, {"error": "lease not found", "message": "lease not found", "code": 5}),
    }
    for name, (sel, doc) in seeds.items():
        put("fuzz_etcd", name, bytes([sel]) + json.dumps(doc).encode())
    msgs = [{"result": {"header": hdr, "created": True}},
            {"result": {"header": hdr, "events": [{"kv": kv}, {"type": "DELETE", "kv": {"key": b64(key), "mod_revision": "7"}}]}},
            {"result": {"header": dict(hdr, revision="9")}},
            {"result": {"header": {"raft_term": "2"}, "canceled": True, "compact_revision": "5",
                        "cancel_reason": "compacted"}}]
    lines = "".join(json.dumps(m) + "\n" for m in msgs).encode()
    put("fuzz_etcd", "watch-stream", bytes([4]) + bytes([3, 17, 200, 1, 0, 90]) + bytes(10) + lines)
    put("fuzz_etcd", "b64", bytes([5]) + b"L2Qvbm9kZXMvYS9pbnN0YW5jZXMveA==")
    put("fuzz_etcd", "key", bytes([5]) + key.encode())


def shim_notify():
    """Datagrams a service sends to NOTIFY_SOCKET (drover-shim's parser)."""
    for name, data in [
        ("ready", b"READY=1"),
        ("ready-nl", b"READY=1\n"),
        ("status-ready", b"STATUS=serving\nMAINPID=1\nREADY=1\n"),
        ("stopping", b"STOPPING=1"),
        ("both", b"READY=1\nSTOPPING=1"),
        ("near-misses", b"READY=0\n READY=1\nREADY=1 \nready=1\nREADY=11"),
        ("nul", b"READY=1\x00STOPPING=1"),
        ("empty-lines", b"\n\n\nREADY=1\n\n"),
    ]:
        put("fuzz_shim_notify", name, data)



def probe_http():
    """What an instance answers an http probe (the probe's status-line reader)."""
    for name, data in [
        ("r00", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ("r01", b"HTTP/1.0 503 Service Unavailable\r\n\r\n"),
        ("r02", b"HTTP/2 204\n"),
        ("r03", b"SSH-2.0-OpenSSH_9.2\r\n"),
        ("r04", b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n<html>"),
    ]:
        put("fuzz_probe_http", name, data)

if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    specs()
    spec_fields()
    refs()
    challenges()
    unpack()
    docs()
    api()
    state()
    assignments()
    registry()
    docker_save()
    etcd()
    shim_notify()
    probe_http()
