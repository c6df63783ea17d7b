# The two commands of the README. Both do all their own set-up on a fresh Debian 12 (as root):
#   make demo   install what is missing, start the lab, run a real scan, write demo-output/
#   make test   install what is missing, start the lab, run lint + types + the whole test suite, stop the lab
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := $(PY) tests/lab/lab.py
DC := $(PY) tests/lab/dc.py
DICOMLAB := $(PY) tests/lab/dicomlab.py
NFSLAB := $(PY) tests/lab/nfslab.py
FTPLAB := $(PY) tests/lab/ftplab.py
# Debian packages the lab and the tests need (only the missing ones are installed). npm (when no npm is on
# the PATH) fetches the corpus test's pinned CDA, HL7 and FHIR example packages (tests/corpus/).
# chromium: the HTML report is opened in headless Chromium by the tests (tests/chromium.py).
APT_PACKAGES := samba smbclient acl attr iproute2 procps python3-venv python3-pip chromium
# The lab's AD DC (tests/lab/dc.py) and Kerberos: samba-ad-dc, winbind, krb5-user (kinit), openssl (the
# lab CA), util-linux (unshare); gssapi is built from source against libkrb5-dev.
APT_PACKAGES += samba-ad-dc samba-ad-provision winbind krb5-user python3-samba openssl util-linux libkrb5-dev gcc libc6-dev python3-dev
# The DICOM lab (tests/lab/dicomlab.py): Orthanc run by hand (never its systemd service), DCMTK's tools for
# the remediation checks; gcc (above) builds the lab's bind-address shim.
APT_PACKAGES += orthanc dcmtk
# The NFS lab (tests/lab/nfslab.py): NFS-Ganesha and rpcbind run by hand (never their systemd services);
# libnfs-utils (nfs-ls) is the C reference of bench/nfs_bench.py.
APT_PACKAGES += nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils
# The FTP lab (tests/lab/ftplab.py): ProFTPD run by hand (never its service). Its TLS module
# (proftpd-mod-crypto) and vsftpd (which conflicts with proftpd-core) are fetched with apt-get download
# into the lab's cache when missing; openssl hashes the lab accounts' passwords.
APT_PACKAGES += proftpd-core proftpd-mod-crypto
DEMO_OUT := demo-output

.PHONY: demo test check lab-up lab-down dc-up dc-down dicomlab-up dicomlab-down nfslab-up nfslab-down ftplab-up ftplab-down deps venv clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

lab-up: deps venv
	$(LAB) up

lab-down:
	@if [ -x $(PY) ]; then $(LAB) down; fi

dc-up: deps venv
	$(DC) up

dicomlab-up: deps venv
	$(DICOMLAB) up

dicomlab-down:
	@if [ -x $(PY) ]; then $(DICOMLAB) down; fi

nfslab-up: deps venv
	$(NFSLAB) up

nfslab-down:
	@if [ -x $(PY) ]; then $(NFSLAB) down; fi

ftplab-up: deps venv
	$(FTPLAB) up

ftplab-down:
	@if [ -x $(PY) ]; then $(FTPLAB) down; fi

dc-down:
	@if [ -x $(PY) ]; then $(DC) down; fi

# The DICOM lab puts an open PACS on labnas (127.0.0.11:11112) and a hardened one on labfs (127.0.0.12:4242,
# AE title HARDPACS, which --dicom-ae names so that its calling-AE check is measured too). The NFS lab puts
# NFS-Ganesha on labnas; --nfs-uid names the printer's uid that owns its scan folder (tests/lab/nfslab.py).
# The FTP lab puts an anonymous ProFTPD on labnas (port 21; vsftpd on 2121, which --ftp-port adds) and
# FTPS on labfs (21, 990). Every door is looked at by default (--protocols smb,dicom,ftp,nfs).
demo: lab-up dicomlab-up nfslab-up ftplab-up
	mkdir -p $(DEMO_OUT)
	SHAREAUDIT_PASSWORD=Audit-Pass1 $(VENV)/bin/shareaudit scan 127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.16 \
		-u labaudit --dicom-ae HARDPACS --nfs-uid printer=3001 --ftp-port 2121 -o $(DEMO_OUT) --inventory $(DEMO_OUT)/inventory.jsonl
	@echo "results: $(DEMO_OUT)/scan.json, report.html, findings.csv, inventory.jsonl"

# Static checks: style, formatting and strict typing of the package.
check: venv
	$(VENV)/bin/ruff check shareaudit tests $(wildcard bench)
	$(VENV)/bin/ruff format --check shareaudit tests $(wildcard bench)
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no test: that is a failure here, never a silent green.
test: deps venv
	$(LAB) up
	status=0; \
	$(MAKE) --no-print-directory check || status=$$?; \
	$(VENV)/bin/pytest || status=$$?; \
	$(LAB) down; \
	$(DC) down; \
	$(DICOMLAB) down; \
	$(NFSLAB) down; \
	$(FTPLAB) down; \
	exit $$status

clean: lab-down dc-down dicomlab-down nfslab-down ftplab-down
	rm -rf $(VENV) $(DEMO_OUT)
