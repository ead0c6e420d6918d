"""The README's federation section, run as written (issue 14): the commands are
taken from README.md's code blocks by this test, so that the README cannot
drift from what works. Only the directory, the host names and the ports are
replaced, to run the two sites, Paris and Lyon, on loopback in temporary
directories. The "Check:" sentences that follow the blocks are checked too.

    python3 tests/integration/test_readme.py

`comptoir` is found on PATH: the directory of $COMPTOIR_BIN (default
build/comptoir) is put first. Ends with "N passed, M failed".
"""

import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Client, Runner, free_port  # noqa: E402

t = Runner()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTION = "## Setting up a federation of sites"
work = tempfile.mkdtemp(prefix="comptoir-readme-")
machines = {name: {"dir": os.path.join(work, name, "var-lib-comptoir"), "http": free_port(),
                   "sync": free_port()} for name in ("paris", "lyon")}
for m in machines.values():
    os.makedirs(m["dir"])
# The README has the commands typed as the node's own user; tests may run as
# root, where `comptoir run` needs to be told (the README says --allow-root).
env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(BIN)) + os.pathsep + os.environ["PATH"],
           COMPTOIR_ALLOW_ROOT="1")
background = []   # process groups of the lines ending with &


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_certs():
    """The company's CA and a certificate for each site, made with the
    commands of docs/OPERATIONS.md ("HTTPS"), where the README expects them
    (paris.crt, paris.key...: in the directory the commands run in). Each
    names its machine and, for this run on loopback, 127.0.0.1."""
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=Test company CA", "-keyout", ca_key, "-out", ca)
    for name in machines:
        key, csr, crt = (os.path.join(work, name + e) for e in (".key", ".csr", ".crt"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=%s.corp" % name,
                "-addext", "subjectAltName=DNS:%s.corp,IP:127.0.0.1" % name)
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-days", "2", "-copy_extensions", "copy", "-out", crt)
        os.chmod(key, 0o600)
    return ca


class TLSClient(Client):
    """harness.Client over HTTPS, as a browser that trusts the company's CA."""

    def __init__(self, port, ca_file, **kw):
        super().__init__(port, **kw)
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def _conn(self, timeout=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                           timeout=timeout or self.timeout)


def section_blocks():
    """[(machine, [command, ...])] for each ```sh block of the section, the
    machine named by the paragraph before it ("on `paris.corp`")."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    text = text[start:end if end >= 0 else len(text)]
    blocks = []
    for m in re.finditer(r"```sh\n(.*?)```", text, re.S):
        before = text[:m.start()].rstrip().split("\n\n")[-1]
        hosts = re.findall(r"on `(\w+)\.corp`", before)
        lines, cmd = [], ""
        for line in m.group(1).splitlines():
            cmd += line[:-1] + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                if cmd.strip():
                    lines.append(cmd.strip())
                cmd = ""
        blocks.append((hosts[-1] if hosts else None, lines))
    return blocks


def localise(cmd, machine):
    """The command with the directory, host names and ports of this run."""
    here = machines[machine]
    for name, m in machines.items():
        cmd = cmd.replace("tcp://%s.corp:7400" % name, "tcp://127.0.0.1:%d" % m["sync"])
        cmd = cmd.replace("%s.corp:8443" % name, "127.0.0.1:%d" % m["http"])
    cmd = cmd.replace("tcp://0.0.0.0:7400", "tcp://127.0.0.1:%d" % here["sync"])
    cmd = cmd.replace("0.0.0.0:8443", "127.0.0.1:%d" % here["http"])
    return cmd.replace("/var/lib/comptoir", here["dir"])


def run(machine, cmd):
    """Runs one command line as a shell would, in the shared work directory
    (files "carried" between machines are simply there). Returns its output."""
    if cmd.endswith("&"):
        p = subprocess.Popen(["sh", "-c", cmd], cwd=work, env=env, start_new_session=True)
        background.append(p.pid)
        p.wait()
        return ""
    p = subprocess.run(["sh", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    t.check(p.returncode == 0, "README command on %s succeeds: %s" % (machine, cmd), p.stderr)
    return p.stdout + p.stderr


def status(machine):
    return subprocess.run(["comptoir", "status", "--dir", machines[machine]["dir"]], env=env,
                          capture_output=True, text=True).stdout


def wait_until(fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except (OSError, ValueError, KeyError, TypeError):
            v = None
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.1)


def peer_row(machine, site):
    for line in status(machine).splitlines():
        w = line.split()
        if w and w[0] == site:
            return w
    return None


def field(out, name):
    m = re.search(r"(?m)^%s: *(.*)$" % re.escape(name), out)
    return m.group(1).strip() if m else None


def test_readme():
    blocks = section_blocks()
    t.eq([b[0] for b in blocks], ["paris", "lyon", "paris", "lyon", "paris"],
         "the section's five blocks, each on a named machine")
    for machine, lines in blocks:
        for cmd in lines:
            local = localise(cmd, machine)
            t.check(not re.search(r"\.corp|:7400\b|:8443\b|/var/lib/comptoir", local),
                    "nothing of the README's machines left in: %s" % local)
    ca = make_certs()
    outs = []
    # Step 1: Paris.
    machine, lines = blocks[0]
    outs = [run(machine, localise(c, machine)) for c in lines]
    password = re.search(r"(?m)^password: (\S+)$", "".join(outs))
    t.check(password, "user add prints alice's password", outs)
    st = wait_until(lambda: "node:      running" in status("paris") and status("paris"))
    t.check(st, "step 1 check: status says node: running", status("paris"))
    t.check(re.search(r"(?m)^site: +paris \(Paris HQ\)$", st or ""), "and site: paris (Paris HQ)", st)
    fingerprint = field(st or "", "root key")
    t.check(fingerprint and re.match(r"^[0-9A-F]{4}(-[0-9A-F]{4}){4}$", fingerprint),
            "and the root key fingerprint", fingerprint)

    # Step 2: Lyon joins.
    machine, lines = blocks[1]
    for c in lines:
        run(machine, localise(c, machine))
    with open(os.path.join(work, "lyon.req")) as f:
        req = f.read()
    t.eq(field(req, "site"), "lyon", "step 2 check: lyon.req names site: lyon")
    t.eq(field(req, "title"), "Lyon warehouse", "and its title")
    t.eq(field(req, "endpoint"), "tcp://127.0.0.1:%d" % machines["lyon"]["sync"], "and the endpoint to dial")

    # Step 3: federation IT certifies.
    machine, lines = blocks[2]
    for c in lines:
        run(machine, localise(c, machine))
    with open(os.path.join(work, "lyon.cert")) as f:
        t.eq(field(f.read(), "root_fingerprint"), fingerprint,
             "step 3 check: lyon.cert's root fingerprint is the one of step 1")

    # Step 4: Lyon installs, links, gets its admin, runs.
    machine, lines = blocks[3]
    outs = [run(machine, localise(c, machine)) for c in lines]
    t.check(fingerprint and fingerprint in outs[0], "step 4 check: site install prints that fingerprint", outs[0])
    claire = re.search(r"(?m)^password: (\S+)$", "".join(outs[1:]))
    t.check(claire, "user add prints claire's password", outs)
    t.check(wait_until(lambda: (peer_row("lyon", "paris") or [None, None])[1] == "connected"),
            "within a few seconds lyon's status shows paris connected", status("lyon"))
    t.check(wait_until(lambda: field(status("lyon"), "events") == field(status("paris"), "events")),
            "and the events count equals paris's", (status("lyon"), status("paris")))
    lyon = TLSClient(machines["lyon"]["http"], ca)
    if password:
        r = lyon.login("alice", password.group(1), check=False)
        t.eq(r.status, 200, "alice logs in at lyon with her usual password")
    if claire:
        r = TLSClient(machines["lyon"]["http"], ca).login("claire", claire.group(1), check=False)
        t.check(r.status == 200 and r.json.get("admin") is True, "claire is lyon's admin", r)

    # Revoking lyon.
    machine, lines = blocks[4]
    for c in lines:
        run(machine, localise(c, machine))
    t.check(wait_until(lambda: (peer_row("paris", "lyon") or [None, None])[1] == "revoked"),
            "paris's status shows lyon revoked", status("paris"))
    t.check(wait_until(lambda: re.search(r"(?m)^REVOKED: ", status("lyon"))),
            "lyon's own status says REVOKED", status("lyon"))
    t.check(wait_until(lambda: "refused by paris: not admitted" in status("lyon")),
            "and shows paris refusing it", status("lyon"))


try:
    t.test(test_readme)
finally:
    for pgid in background:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for m in machines.values():
        # The nodes were started in the background, as the README says:
        # wait for them to go before removing their directories.
        wait_until(lambda: not os.path.exists(os.path.join(m["dir"], "status.json")), 15)
    shutil.rmtree(work, ignore_errors=True)
t.finish()
