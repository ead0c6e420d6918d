"""SIGHUP reloads the config only when it is valid; SIGTERM stops cleanly;
`comptoir run --check` validates the config and names the error.

Run from the repository root: python3 tests/integration/test_reload.py
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402


def wait_log(node, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in node.log_tail(200):
            return True
        time.sleep(0.05)
    return False


def main():
    t = Runner()
    with Node("paris") as n:
        good = open(n.config_path).read()
        r = n.cli("run", "--check", check=False)
        t.eq(r.returncode, 0, "run --check accepts the config init wrote")
        n.start()
        # A broken config is refused with its position, and the node goes on.
        with open(n.config_path, "a") as f:
            f.write("bogus_key: 1\n")
        n.proc.send_signal(signal.SIGHUP)
        t.check(wait_log(n, "reload refused"), "SIGHUP with a broken config is refused")
        t.check('unknown key "bogus_key"' in n.log_tail(50), "the refusal names the key",
                n.log_tail(5))
        t.eq(n.client().get("/api/status").status, 200, "the node still serves")
        r = n.cli("run", "--check", check=False)
        t.check(r.returncode != 0 and "comptoir.yaml:" in r.stderr and "bogus_key" in r.stderr,
                "run --check names the file, line and key", r.stderr)
        # A valid change is taken.
        with open(n.config_path, "w") as f:
            f.write(good.replace("log_level: info", "log_level: debug"))
        n.proc.send_signal(signal.SIGHUP)
        t.check(wait_log(n, "info config reloaded"), "SIGHUP with a valid config reloads it")
        t.eq(n.stop(), 0, "SIGTERM stops the node cleanly (exit 0)")
        t.check("info node stopping" in n.log_tail(20), "it says it is stopping")
    t.finish()


if __name__ == "__main__":
    main()
