# One lab personality per container, from the same tests/lab files the test suite uses
# (mounted at /lab by docker/compose.yaml). `lab.py serve NAME` prepares it and runs smbd.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends samba smbclient acl attr iproute2 procps \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "pydicom>=3.0"
EXPOSE 445
ENTRYPOINT ["python3", "/lab/lab.py", "serve"]
