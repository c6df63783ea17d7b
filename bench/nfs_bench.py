"""How fast each NFS client walks one export of the lab, by hand: `python bench/nfs_bench.py [--files N]`.

Makes a throwaway copy of the NFS lab's radiology export (tests/lab/nfslab.py copy; the lab must be up),
adds N small files in folders of 100, then walks it listing every folder and reading the first 4 KiB of
every 10th file, with each client:
- nfs-rs (NFSv3, the library shareaudit uses), one connection;
- shareaudit's own crawl over collect/nfs/client.NfsLister (classification, redaction and all);
- anfs (pure-Python asyncio NFSv3), when it is importable: it is not a dependency;
- nfs-ls -R from libnfs-utils (libnfs in C, listing only), as the reference.
Prints seconds and entries per second for each; the counts must agree. Loopback only (127.0.0.11).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import nfs_rs  # noqa: E402
import nfslab  # noqa: E402

HEAD = 4096
READ_EVERY = 10


def make_tree(files: int) -> tuple[str, Path]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "lab" / "nfslab.py"), "copy", "radiology"],
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(proc.stdout)
    base = Path(made["dir"]) / "bench"
    for n in range(files):
        folder = base / f"dir{n // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{n:06d}.txt").write_bytes(b"x" * (512 + n % 3000))
    return made["export"] + "/bench", base


def nfs_rs_walk(export: str) -> tuple[int, int]:
    entries = reads = 0
    with nfs_rs.Client.connect(f"nfs://{nfslab.ADDRESS}{export}", uid=0, gid=0) as client:
        pending = [""]
        while pending:
            path = pending.pop()
            for entry in client.scandir(path):
                entries += 1
                child = f"{path}/{entry.name}" if path else entry.name
                if entry.info.type is nfs_rs.FileType.DIRECTORY:
                    pending.append(child)
                elif READ_EVERY and entries % READ_EVERY == 0:
                    with client.open(child, "rb") as handle:
                        handle.read_at(0, HEAD)
                    reads += 1
    return entries, reads


def shareaudit_walk(export: str) -> tuple[int, int]:
    from shareaudit.collect.crawl import CrawlBounds, ShareCrawl
    from shareaudit.collect.nfs.client import Endpoint, Mount, NfsLister
    from shareaudit.collect.walk import RateLimit
    from shareaudit.redact import Redactor

    bounds = CrawlBounds(rate=0)
    with Mount(Endpoint(nfslab.ADDRESS, nfslab.NFS_PORT, nfslab.MNT_PORT, 10), export, 0, 0) as mount:
        content = ShareCrawl(NfsLister(mount, RateLimit(0)), "root", bounds, Redactor(b"k" * 32)).run()
    return content.entries_seen, content.sniffed


def anfs_walk(export: str) -> tuple[int, int] | None:
    try:
        from anfs.protocol.mount import Mount
        from anfs.protocol.nfs3.client import NFSv3Client
        from anfs.protocol.rpc.common.target import RPCTarget
        from anfs.protocol.rpc.messages import AUTH_SYS
    except ImportError:
        return None

    async def walk() -> tuple[int, int]:
        credential = AUTH_SYS(uid=0, gid=0)
        async with Mount(RPCTarget(nfslab.ADDRESS, nfslab.MNT_PORT), credential) as mount:
            handle, err = await mount.mount(export)
            if err is not None:
                raise err
        entries = reads = 0
        async with NFSv3Client(handle, RPCTarget(nfslab.ADDRESS, nfslab.NFS_PORT), credential) as client:
            pending = [0]
            while pending:
                directory = pending.pop()
                async for entry, err in client.readdirplus(directory):
                    if err is not None:
                        raise err
                    if entry.name in (".", ".."):
                        continue
                    entries += 1
                    if entry.type == 2:  # NF3DIR
                        pending.append(entry.handle)
                    elif READ_EVERY and entries % READ_EVERY == 0:
                        _, err = await client.read(entry.handle, 0, HEAD)
                        if err is not None:
                            raise err
                        reads += 1
        return entries, reads

    return asyncio.run(walk())


def nfs_ls(export: str) -> int | None:
    if shutil.which("nfs-ls") is None:
        return None
    proc = subprocess.run(
        ["nfs-ls", "-R", f"nfs://{nfslab.ADDRESS}{export}"], capture_output=True, text=True, check=True
    )
    return len(proc.stdout.splitlines())


def timed(name: str, walk: object, export: str) -> None:
    started = time.perf_counter()
    counted = walk(export)  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    if counted is None:
        print(f"{name:28} not available")
        return
    entries = counted[0] if isinstance(counted, tuple) else counted
    reads = counted[1] if isinstance(counted, tuple) else "-"
    print(
        f"{name:28} {elapsed:7.2f} s  {entries:7d} entries  {reads!s:>6} heads  {entries / elapsed:9.0f} entries/s"
    )


def main() -> None:
    global READ_EVERY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--read-every", type=int, default=10, help="0: list only")
    args = parser.parse_args()
    READ_EVERY = args.read_every
    if not nfslab.running():
        sys.exit("the NFS lab is not up: python tests/lab/nfslab.py up")
    export, base = make_tree(args.files)
    print(f"{args.files} files in {args.files // 100 + 1} folders, export {export} on {nfslab.ADDRESS}")
    for _ in range(args.rounds):
        timed("nfs-rs 0.8 (NFSv3)", nfs_rs_walk, export)
        timed("shareaudit crawl (nfs-rs)", shareaudit_walk, export)
        timed("anfs (asyncio, pure Python)", anfs_walk, export)
        timed("nfs-ls -R (libnfs, C)", nfs_ls, export)
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
