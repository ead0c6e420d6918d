"""`comptoir run --check` checks every key file of the node, not only the
config: site.key, site.curve and root.key truncated, malformed or readable
by others are refused, naming the file; `run` refuses them too.

Run from the repository root: python3 tests/integration/test_check.py
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Node, Runner  # noqa: E402

t = Runner()


def run(node, *extra, timeout=20):
    """`comptoir run` in the foreground; None when it served until timeout."""
    env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
    p = subprocess.Popen([BIN, "run", "--dir", node.data] + list(extra), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def main():
    with Node("checks") as n:
        keys = os.path.join(n.data, "keys")
        p = n.cli("run", "--check")
        t.check("configuration is valid" in p.stdout and "no damage found" in p.stdout,
                "a sound node passes run --check", p.stdout)
        saved = os.path.join(n.dir, "saved-keys")
        shutil.copytree(keys, saved)

        def cut(path):
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[:len(data) // 2])

        def malformed(path):
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("secret: ", "secret: zz"))

        def empty(path):
            open(path, "w").close()

        damages = [("truncated", cut, "truncated"), ("malformed", malformed, "hex"),
                   ("emptied", empty, "empty"),
                   ("mode 0640", lambda p: os.chmod(p, 0o640), "readable by group or others"),
                   ("mode 0604", lambda p: os.chmod(p, 0o604), "readable by group or others"),
                   ("mode 0620", lambda p: os.chmod(p, 0o620), "writable by group or others")]
        for name in ("site.curve", "site.key", "root.key"):
            path = os.path.join(keys, name)
            for what, damage, needle in damages:
                shutil.rmtree(keys)
                shutil.copytree(saved, keys)
                os.chmod(path, 0o600)
                damage(path)
                p = n.cli("run", "--check", check=False)
                t.check(p.returncode == 1 and path in p.stderr and needle in p.stderr
                        and "valid" not in p.stdout,
                        "run --check refuses %s %s, naming it" % (name, what),
                        (p.returncode, p.stdout, p.stderr))
            # `run` itself refuses a bad site.curve or site.key before serving.
            if name != "root.key":
                shutil.rmtree(keys)
                shutil.copytree(saved, keys)
                cut(path)
                p = run(n)
                t.check(p is not None and p.returncode != 0 and path in p.stderr,
                        "run refuses a truncated %s, naming it" % name,
                        p and (p.returncode, p.stderr[-400:]))
        shutil.rmtree(keys)
        shutil.copytree(saved, keys)
        # A site whose root key was moved offline has no root.key: fine.
        os.unlink(os.path.join(keys, "root.key"))
        p = n.cli("run", "--check", check=False)
        t.check(p.returncode == 0 and "configuration is valid" in p.stdout,
                "run --check passes without root.key (moved offline)", (p.stdout, p.stderr))
    t.finish()


if __name__ == "__main__":
    main()
