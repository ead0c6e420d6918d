"""`make demo` and `make demo-stop` (deploy/demo.sh) with real processes:
a node stopped and started again by hand, as docs/OPERATIONS.md shows for
an outage, is stopped by demo-stop like the others, so that the next demo
starts on the same ports (issue 14, bug 2); stop-site and start-site.

    python3 tests/integration/test_demo.py

Ends with "N passed, M failed" and exits 1 on failure.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Client, Runner, free_port  # noqa: E402

BIN = os.path.abspath(BIN)

t = Runner()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "deploy", "demo.sh")
work = tempfile.mkdtemp(prefix="comptoir-demo-test-")
demo_dir = os.path.join(work, "demo")
http_ports = [free_port() for _ in range(3)]
sync_ports = [free_port() for _ in range(3)]
env = dict(os.environ, COMPTOIR_DEMO_DIR=demo_dir, COMPTOIR_DEMO_SEED="0",
           COMPTOIR_DEMO_HTTP_PORTS=" ".join(map(str, http_ports)),
           COMPTOIR_DEMO_SYNC_PORTS=" ".join(map(str, sync_ports)))
env.pop("COMPTOIR_ALLOW_ROOT", None)  # as a person typing the commands: no test switch
hand = None


def demo(*args):
    return subprocess.run(["sh", DEMO] + list(args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def answers(port):
    try:
        return Client(port, timeout=5.0).get("/api/status").status == 200
    except OSError:
        return False


def port_free(port):
    """Can a server listen on port (as the nodes do, with SO_REUSEADDR)?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def cleanup():
    if hand and hand.poll() is None:
        os.killpg(hand.pid, signal.SIGKILL)
        hand.wait()
    demo("stop")
    shutil.rmtree(work, ignore_errors=True)


def test_stop_after_restart_by_hand():
    global hand
    r = demo("start", BIN)
    t.check(r.returncode == 0, "make demo starts three sites", r.stderr[-2000:])
    t.check(all(answers(p) for p in http_ports), "the three sites answer")

    # docs/OPERATIONS.md: stop lyon with its pid file, start it again by hand.
    with open(os.path.join(demo_dir, "lyon.pid")) as f:
        os.kill(int(f.read()), signal.SIGTERM)
    t.check(wait_until(lambda: not answers(http_ports[1])), "lyon is stopped")
    cmd = [BIN, "run", "--dir", "demo/lyon"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # what OPERATIONS.md says to add as root
    log = open(os.path.join(demo_dir, "lyon.log"), "ab")
    hand = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    t.check(wait_until(lambda: answers(http_ports[1])), "lyon started by hand answers")

    r = demo("stop")
    t.check(r.returncode == 0, "make demo-stop succeeds", r.stdout + r.stderr)
    t.check("cannot open" not in r.stderr, "no error about /proc", r.stderr)
    t.check(wait_until(lambda: hand.poll() is not None, 5), "demo-stop stopped the node started by hand")
    t.check(not os.path.exists(demo_dir), "demo-stop removed the demo directory")
    t.check(all(port_free(p) for p in http_ports + sync_ports), "every port of the demo is free again")

    r = demo("start", BIN)
    t.check(r.returncode == 0, "the next make demo starts on the same ports",
            r.stderr[-2000:])


def test_stop_and_start_a_site():
    r = demo("stop-site", "nantes")
    t.check(r.returncode == 0 and not answers(http_ports[2]), "stop-site stops nantes", r)
    t.check(wait_until(lambda: answers(http_ports[0]) and answers(http_ports[1])), "the others go on")
    r = demo("start-site", "nantes")
    t.check(r.returncode == 0 and answers(http_ports[2]), "start-site starts it again", r)
    r = demo("start-site", "nantes")
    t.check(r.returncode != 0 and "running already" in r.stderr, "start-site refuses a running site", r)
    r = demo("stop")
    t.check(r.returncode == 0 and all(port_free(p) for p in http_ports + sync_ports),
            "demo-stop stops them all", r)


try:
    t.test(test_stop_after_restart_by_hand)
    t.test(test_stop_and_start_a_site)
finally:
    cleanup()
t.finish()
