#!/usr/bin/env python3
"""Write a single-layer OCI image layout tarball, ready for `ctr images import`.

No registry, no daemon: the layer is an uncompressed tar of the given files, and the
tarball is byte-for-byte reproducible (fixed mtimes, owners and order), so importing
the same inputs twice yields the same image digest.

usage: oci-image.py --name localhost/NAME:TAG --out FILE.tar
                    [--entrypoint /bin] [--arg ARG ...] [--user UID[:GID]] [--env K=V ...]
                    [--file SRC:DEST[:MODE] ...] [--symlink TARGET:DEST ...] [--dir DEST ...]
"""
import argparse
import hashlib
import io
import json
import os
import tarfile

MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def tar_info(name, kind, mode, size=0, linkname=""):
    ti = tarfile.TarInfo(name.lstrip("/"))
    ti.type, ti.mode, ti.size, ti.linkname = kind, mode, size, linkname
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
    return ti


def build_layer(files, symlinks, dirs):
    """Return the uncompressed layer tar bytes. Parent directories are added implicitly."""
    entries = {}  # path -> (TarInfo, bytes|None)

    def add_parents(path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            entries.setdefault(d, (tar_info(d, tarfile.DIRTYPE, 0o755), None))

    for d in dirs:
        d = d.strip("/")
        add_parents(d)
        mode = 0o1777 if d == "tmp" else 0o755
        entries[d] = (tar_info(d, tarfile.DIRTYPE, mode), None)
    for spec in files:
        src, dest, *mode = spec.split(":")
        with open(src, "rb") as f:
            data = f.read()
        m = int(mode[0], 8) if mode else (0o755 if os.access(src, os.X_OK) else 0o644)
        add_parents(dest)
        entries[dest.strip("/")] = (tar_info(dest, tarfile.REGTYPE, m, len(data)), data)
    for spec in symlinks:
        target, dest = spec.split(":")
        add_parents(dest)
        entries[dest.strip("/")] = (tar_info(dest, tarfile.SYMTYPE, 0o777, 0, target), None)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            ti, data = entries[path]
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def blob(tar, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    tar.addfile(tar_info(f"blobs/sha256/{digest}", tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="full reference, e.g. localhost/pause:3.10")
    p.add_argument("--out", required=True)
    p.add_argument("--entrypoint", action="append", default=[])
    p.add_argument("--arg", action="append", default=[], help="default Cmd")
    p.add_argument("--user", default="")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--workdir", default="/")
    p.add_argument("--file", action="append", default=[])
    p.add_argument("--symlink", action="append", default=[])
    p.add_argument("--dir", action="append", default=[])
    a = p.parse_args()
    if not a.name.startswith("localhost/") or ":" not in a.name.split("/")[-1]:
        p.error("--name must look like localhost/NAME:TAG (a bare name normalises to docker.io)")

    layer = build_layer(a.file, a.symlink, a.dir)
    env = ["PATH=/usr/local/bin:/usr/bin:/bin:/"] + a.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": a.entrypoint or None, "Cmd": a.arg or None, "User": a.user,
                   "Env": env, "WorkingDir": a.workdir},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created_by": "e2e/images/oci-image.py"}],
    }
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        layer_d = blob(tar, layer, MT_LAYER)
        config_d = blob(tar, json.dumps(config, sort_keys=True).encode(), MT_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config_d, "layers": [layer_d]}
        manifest_d = blob(tar, json.dumps(manifest, sort_keys=True).encode(), MT_MANIFEST)
        manifest_d["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_d["annotations"] = {"io.containerd.image.name": a.name,
                                     "org.opencontainers.image.ref.name": a.name.rsplit(":", 1)[1]}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_d]}
        for name, obj in (("oci-layout", {"imageLayoutVersion": "1.0.0"}), ("index.json", index)):
            data = json.dumps(obj, sort_keys=True).encode()
            tar.addfile(tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    os.replace(tmp, a.out)
    print(f"{a.name} -> {a.out} ({len(layer) // 1024} KiB layer)")


if __name__ == "__main__":
    main()
