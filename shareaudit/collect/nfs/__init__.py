"""The NFS door: rpcbind's list, the MOUNT export list, AUTH_SYS access per uid, root squash, the walk.

Only client.py imports nfs-rs; rpc.py makes the two calls it does not (rpcbind's list, the version range).
"""
