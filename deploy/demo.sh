#!/bin/sh
# A three-site federation on this machine, to try Comptoir: Paris (the first
# site, whose root key certifies the others), Lyon and Nantes, with sample staff,
# posts and comments. `make demo` / `make demo-stop` call it.
#
#   deploy/demo.sh start BIN        create the sites, start them in the background
#   deploy/demo.sh stop             stop them (however they were started) and
#                                   remove their data
#   deploy/demo.sh stop-site SITE   stop one site's node: an outage
#   deploy/demo.sh start-site SITE  start it again (log appended to DIR/SITE.log)
#
# Environment: COMPTOIR_DEMO_DIR (default ./demo); COMPTOIR_DEMO_HTTP_PORTS and
# COMPTOIR_DEMO_SYNC_PORTS, three ports each in the order paris lyon nantes
# (default "8081 8082 8083" and "7401 7402 7403"); COMPTOIR_DEMO_HOSTS, three
# addresses (default "127.0.0.1 127.0.0.1 127.0.0.1"); COMPTOIR_DEMO_NETNS, a
# prefix: each node runs in the network namespace PREFIXSITE, which must exist
# (deploy/wan-sim.sh sets these); COMPTOIR_DEMO_SYNC_CONF, YAML appended to each
# config; COMPTOIR_DEMO_SEED=0 leaves the sample posts out. Needs python3 for
# the HTTP calls. As root, the nodes run with --allow-root.
set -eu

DIR=${COMPTOIR_DEMO_DIR:-./demo}
HOSTS=${COMPTOIR_DEMO_HOSTS:-127.0.0.1 127.0.0.1 127.0.0.1}
HTTP_PORTS=${COMPTOIR_DEMO_HTTP_PORTS:-8081 8082 8083}
SYNC_PORTS=${COMPTOIR_DEMO_SYNC_PORTS:-7401 7402 7403}
NETNS=${COMPTOIR_DEMO_NETNS:-}
SITES="paris lyon nantes"
MARK=.comptoir-demo # marks a directory this script made (and may delete)

die() {
	echo "demo: $*" >&2
	exit 1
}

# nth N WORDS...: the Nth word.
nth() {
	n=$1
	shift
	eval "echo \${$n}"
}

# idx SITE: 1, 2 or 3.
idx() {
	case $1 in paris) echo 1 ;; lyon) echo 2 ;; nantes) echo 3 ;; esac
}
host_of() { nth "$(idx "$1")" $HOSTS; }
# The name staff read, in each site's certificate.
title_of() {
	case $1 in paris) echo "Paris HQ" ;; lyon) echo "Lyon warehouse" ;; nantes) echo "Nantes plant" ;; esac
}
http_of() { echo "$(host_of "$1"):$(nth "$(idx "$1")" $HTTP_PORTS)"; }
sync_of() { echo "tcp://$(host_of "$1"):$(nth "$(idx "$1")" $SYNC_PORTS)"; }

# in_ns SITE: the command prefix that runs a program in the site's namespace.
in_ns() {
	[ -z "$NETNS" ] || echo "ip netns exec $NETNS$1"
}

# Runs the binary quietly; shows its output only when it fails.
cpt() {
	if ! out=$("$BIN" "$@" 2>&1); then
		echo "$out" >&2
		die "comptoir $* failed"
	fi
}

# cpt_to FILE ARGS...: the same, standard output to FILE.
cpt_to() {
	f=$1
	shift
	if ! "$BIN" "$@" >"$f" 2>"$DIR/.err"; then
		cat "$DIR/.err" >&2
		die "comptoir $* failed"
	fi
}

# adduser SITE HANDLE "Full Name" [--admin]: enrols, records the password.
adduser() {
	out=$("$BIN" user add "$2" --name "$3" ${4:-} --dir "$DIR/$1" 2>&1) ||
		{ echo "$out" >&2; die "user add $2 failed"; }
	pw=$(echo "$out" | sed -n 's/^password: //p')
	[ -n "$pw" ] || die "user add $2 printed no password"
	echo "$1 $2 $pw ${4:+admin}" >>"$DIR/logins.txt"
}

# The federation: paris is created with its own root key; lyon and nantes join,
# are certified by that key and link to the sites before them (a full mesh).
create() {
	[ -x "$BIN" ] || die "$BIN: no such binary (run make first)"
	if [ -e "$DIR" ]; then
		[ -f "$DIR/$MARK" ] || die "$DIR exists and is not a demo directory: choose another COMPTOIR_DEMO_DIR"
		running && die "a demo is running in $DIR: run deploy/demo.sh stop (make demo-stop) first"
		echo "demo: removing the stopped demo in $DIR"
		rm -rf "$DIR"
	fi
	mkdir -p "$DIR"
	: >"$DIR/$MARK"
	echo "$BIN" >"$DIR/bin"
	(umask 077 && : >"$DIR/logins.txt")
	root="$DIR/paris/keys/root.key"
	for s in $SITES; do
		if [ "$s" = paris ]; then
			cpt init --dir "$DIR/$s" --site "$s" --title "$(title_of "$s")" --http "$(http_of "$s")" \
				--listen "$(sync_of "$s")"
		else
			cpt init --dir "$DIR/$s" --site "$s" --http "$(http_of "$s")" --listen "$(sync_of "$s")" --join
		fi
		[ -z "${COMPTOIR_DEMO_SYNC_CONF:-}" ] || printf '\n%s\n' "$COMPTOIR_DEMO_SYNC_CONF" >>"$DIR/$s/comptoir.yaml"
		# In its own network namespace a site's address is not loopback, but
		# its network is a veth pair on this machine (deploy/wan-sim.sh).
		[ -z "$NETNS" ] || printf '\n# an isolated test network (deploy/wan-sim.sh)\ninsecure_plain_http: true\n' >>"$DIR/$s/comptoir.yaml"
		cpt_to "$DIR/$s.req" site request --dir "$DIR/$s" --title "$(title_of "$s")"
		if [ "$s" = paris ]; then
			# paris is certified already; this copy is what the others dial
			cpt_to "$DIR/$s.cert" root certify --key "$root" "$DIR/$s.req"
		else
			cpt_to "$DIR/$s.cert" root certify --key "$root" --dir "$DIR/paris" "$DIR/$s.req"
			cpt site install --dir "$DIR/$s" "$DIR/$s.cert"
		fi
	done
	cpt peer add --dir "$DIR/lyon" "$DIR/paris.cert"
	cpt peer add --dir "$DIR/nantes" "$DIR/paris.cert"
	cpt peer add --dir "$DIR/nantes" "$DIR/lyon.cert"
	# One site's enrolments after another's would take a second each (argon2id).
	(adduser paris alice "Alice Martin" --admin && adduser paris bruno "Bruno Lefèvre") &
	p1=$!
	(adduser lyon claire "Claire Dubois" --admin && adduser lyon david "David Moreau") &
	p2=$!
	(adduser nantes emma "Emma Leroy" --admin && adduser nantes farid "Farid Haddad") &
	p3=$!
	rc=0
	for p in $p1 $p2 $p3; do
		wait "$p" || rc=1
	done
	[ $rc -eq 0 ] || die "enrolling the sample staff failed"
}

# nodes [SITE...]: "SITE PID" for every `comptoir run` process whose data
# directory is that site's (all three sites by default), however it was
# started: by this script, or by hand as docs/OPERATIONS.md shows (a relative
# --dir is resolved against the process's working directory). Processes of
# other users that this one cannot inspect are not seen.
nodes() {
	[ $# -gt 0 ] || set -- $SITES
	want=
	for s in "$@"; do
		d=$(cd "$DIR/$s" 2>/dev/null && pwd -P) && want="$want $s=$d"
	done
	[ -n "$want" ] || return 0
	# One grep picks the candidates; a process may be gone meanwhile, hence
	# 2>/dev/null before each redirection.
	for f in $(grep -las comptoir /proc/[0-9]*/cmdline); do
		p=${f%/cmdline}
		args=$(tr '\0' '\n' 2>/dev/null <"$f") || continue
		d=$(printf '%s\n' "$args" | awk '
			NR == 1 { if ($0 !~ /comptoir$/) exit }
			$0 == "run" { run = 1 }
			prev == "--dir" { dir = $0 }
			{ prev = $0 }
			END { if (run && dir != "") print dir }')
		[ -n "$d" ] || continue
		case $d in /*) ;; *) d="$(readlink "$p/cwd" 2>/dev/null)/$d" ;; esac
		d=$(cd "$d" 2>/dev/null && pwd -P) || continue
		for w in $want; do
			[ "$d" = "${w#*=}" ] && echo "${w%%=*} ${p#/proc/}"
		done
	done
	return 0
}

# True when a node of the demo still runs.
running() {
	[ -n "$(nodes)" ]
}

# start_site SITE: starts its node in the background, appending to its log.
start_site() {
	allow=
	[ "$(id -u)" -eq 0 ] && allow=--allow-root
	# setsid: the node outlives the terminal that ran make demo
	$(in_ns "$1") setsid "$BIN" run --dir "$DIR/$1" $allow </dev/null >>"$DIR/$1.log" 2>&1 &
	echo $! >"$DIR/$1.pid"
}

# wait_up SITE...: until each answers on HTTP; on failure shows the log.
wait_up() {
	set -- $(for s in "$@"; do echo "$s $(http_of "$s") $(cat "$DIR/$s.pid")"; done)
	bad=$($(in_ns paris) python3 - "$@" <<'EOF'
import http.client, os, sys, time
left = [sys.argv[i:i + 3] for i in range(1, len(sys.argv), 3)]
end = time.monotonic() + 30
while left and time.monotonic() < end:
    for site, addr, pid in list(left):
        try:
            os.kill(int(pid), 0)
        except OSError:
            print(site)  # it exited
            sys.exit(1)
        try:
            c = http.client.HTTPConnection(*addr.rsplit(":", 1), timeout=1)
            c.request("GET", "/api/status")
            c.getresponse().read()
            left.remove([site, addr, pid])
        except OSError:
            pass
    time.sleep(0.1)
if left:
    print(left[0][0])
    sys.exit(1)
EOF
	) || {
		bad=${bad:-paris}
		tail -n 20 "$DIR/$bad.log" >&2
		die "$bad did not start (log: $DIR/$bad.log)"
	}
}

start_nodes() {
	for s in $SITES; do
		start_site "$s"
	done
	# One poller for the three (from paris's namespace, which reaches them all).
	wait_up $SITES
}

# Profiles, posts, comments and reactions through the HTTP API, as staff would.
seed() {
	$(in_ns paris) python3 - "$DIR/logins.txt" "$(http_of paris)" "$(http_of lyon)" "$(http_of nantes)" <<'EOF'
import http.client, json, sys, time

logins = {}
for line in open(sys.argv[1]):
    site, handle, pw = line.split()[:3]
    logins[handle] = (site, pw)
addr = dict(zip(("paris", "lyon", "nantes"), sys.argv[2:5]))

class Session:
    """One logged-in member of staff at their home site."""
    def __init__(self, handle):
        self.site, pw = logins[handle]
        self.host, port = addr[self.site].rsplit(":", 1)
        self.port, self.cookie, self.csrf = int(port), None, None
        r = self.call("POST", "/api/login", {"handle": handle, "password": pw}, 200)
        self.csrf = r["csrf_token"]

    def call(self, method, path, body=None, want=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        h = {"Content-Type": "application/json"}
        if self.cookie:
            h["Cookie"] = "comptoir_session=" + self.cookie
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        c.request(method, path, json.dumps(body) if body is not None else None, h)
        resp = c.getresponse()
        data = resp.read()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie" and v.startswith("comptoir_session="):
                self.cookie = v.split(";")[0].split("=", 1)[1]
        c.close()
        if want is not None and resp.status != want:
            sys.exit("demo: %s %s at %s: HTTP %d %s" % (method, path, self.site, resp.status,
                                                         data[:200].decode("utf-8", "replace")))
        return json.loads(data) if data else None

    def post(self, text):
        return self.call("POST", "/api/posts", {"text": text}, 201)["id"]

    def wait_for(self, post_id):
        """Until a post made at another site has reached this one."""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if "id" in (self.call("GET", "/api/posts/" + post_id) or {}):
                return
            time.sleep(0.2)
        sys.exit("demo: post %s did not reach %s within 20 s" % (post_id, self.site))

    def comment(self, post_id, text):
        self.wait_for(post_id)
        self.call("POST", "/api/posts/%s/comments" % post_id, {"text": text}, 201)

    def react(self, post_id, reaction):
        self.wait_for(post_id)
        self.call("POST", "/api/posts/%s/reactions" % post_id, {"reaction": reaction}, 200)

profiles = {
    "alice": {"name": "Alice Martin", "title": "Head of IT", "department": "IT",
              "site": "Paris HQ", "location": "Building A, 3rd floor", "phone": "+33 1 40 00 00 01",
              "skills": ["networks", "Linux", "security"],
              "bio": "Runs the Paris node and holds the federation root key."},
    "bruno": {"name": "Bruno Lefèvre", "title": "Payroll manager", "department": "Finance",
              "site": "Paris HQ", "location": "Building B", "skills": ["payroll", "Excel"]},
    "claire": {"name": "Claire Dubois", "title": "Site IT lead", "department": "IT",
               "site": "Lyon warehouse", "skills": ["Linux", "printers", "Wi-Fi"]},
    "david": {"name": "David Moreau", "title": "Logistics coordinator", "department": "Logistics",
              "site": "Lyon warehouse", "location": "Dock 2", "skills": ["SAP", "forklift"]},
    "emma": {"name": "Emma Leroy", "title": "Plant manager", "department": "Production",
             "site": "Nantes plant", "skills": ["lean", "ISO 9001"]},
    "farid": {"name": "Farid Haddad", "title": "Maintenance technician", "department": "Maintenance",
              "site": "Nantes plant", "skills": ["welding", "hydraulics"]},
}
s = {h: Session(h) for h in profiles}
for h, p in profiles.items():
    s[h].call("PUT", "/api/profile", p, 200)

welcome = s["alice"].post("Welcome to Comptoir, our intranet! Every site keeps its own copy, "
                          "so it keeps working when the WAN link is down. Questions: "
                          "@claire in Lyon or @emma in Nantes.")
expenses = s["bruno"].post("Reminder: November expense reports are due on Friday.")
dock = s["claire"].post("Lyon: the new loading dock opens on Monday. @david sends the schedule.")
lift = s["david"].post("Does anyone know hydraulic lifts? Ours at dock 2 is acting up again.")
audit = s["emma"].post("The Nantes plant passed its ISO 9001 audit today. Thank you all!")
s["claire"].comment(welcome, "Lyon is connected. 👋")
s["emma"].comment(welcome, "Nantes too!")
s["farid"].comment(lift, "I can help: call me at the Nantes plant, extension 214.")
s["bruno"].comment(audit, "Congratulations to the whole team!")
s["david"].comment(expenses, "Does that include mileage?")
for h, p in (("bruno", welcome), ("claire", audit), ("alice", audit), ("emma", dock),
             ("farid", welcome)):
    s[h].react(p, "👍")
s["alice"].react(audit, "🎉")
EOF
}

show() {
	fpr=$("$BIN" status --dir "$DIR/paris" 2>/dev/null | sed -n 's/^root key: *//p')
	echo
	echo "Comptoir demo: three sites of one federation (root key $fpr)"
	for s in $SITES; do
		printf '  %-7s http://%s/   pid %s\n' "$s" "$(http_of "$s")" "$(cat "$DIR/$s.pid")"
		while read -r site handle pw role; do
			[ "$site" = "$s" ] && printf '            login %-7s password %s%s\n' "$handle" "$pw" "${role:+ (site admin)}"
		done <"$DIR/logins.txt"
	done
	[ -z "$NETNS" ] || echo "  Each site's address is inside its namespace: ip netns exec ${NETNS}lyon curl http://$(http_of lyon)/api/status"
	echo "  Anyone can log in at any site. Data and logs: $DIR (logins in $DIR/logins.txt)."
	echo "  Links: $BIN_SHOWN status --dir $DIR/lyon"
	if [ -z "$NETNS" ]; then
		env=
		[ "$DIR" = ./demo ] || env="COMPTOIR_DEMO_DIR=$DIR "
		echo "  Stop and remove: ${env}make demo-stop"
	fi
}

# stop_nodes [SITE...]: SIGTERM to each node of those sites (all by
# default), SIGKILL to those still there after 10 s.
stop_nodes() {
	found=$(nodes "$@")
	[ -n "$found" ] || return 0
	echo "$found" | while read -r s pid; do
		kill -TERM "$pid" 2>/dev/null && echo "demo: stopping $s (pid $pid)"
	done
	i=0
	while [ -n "$(nodes "$@")" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	nodes "$@" | while read -r s pid; do
		kill -KILL "$pid" 2>/dev/null && echo "demo: killed $s (pid $pid): it did not stop within 10 s"
	done
	return 0
}

stop() {
	[ -e "$DIR" ] || { echo "demo: nothing in $DIR"; return 0; }
	[ -f "$DIR/$MARK" ] || die "$DIR is not a demo directory; not touching it"
	stop_nodes
	# Deleting the data of a node that still runs would leave it holding
	# the ports: the next `make demo` would fail with "Address already in use".
	i=0
	while [ -n "$(nodes)" ] && [ $i -lt 20 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	left=$(nodes)
	[ -z "$left" ] || die "still running, not removing $DIR: $(echo "$left" | tr '\n' ' ')(site, pid)"
	rm -rf "$DIR"
	echo "demo: removed $DIR"
}

# The demo's binary, as `start` recorded it.
demo_bin() {
	[ -f "$DIR/$MARK" ] || die "no demo in $DIR (make demo first)"
	BIN=$(cat "$DIR/bin")
	[ -x "$BIN" ] || die "$BIN: no such binary (run make first)"
}

site_arg() {
	case ${1:-} in paris | lyon | nantes) ;; *) die "usage: deploy/demo.sh $cmd paris|lyon|nantes" ;; esac
}

cmd=${1:-}
case $cmd in
start)
	[ $# -eq 2 ] || die "usage: deploy/demo.sh start BIN"
	command -v python3 >/dev/null || die "python3 is needed (deploy/install-deps.sh installs it)"
	BIN=$2
	BIN_SHOWN=$2
	case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
	create
	trap 'echo "demo: failed; stopping the nodes (logs kept in $DIR)" >&2; stop_nodes >&2' EXIT
	start_nodes
	[ "${COMPTOIR_DEMO_SEED:-1}" = 0 ] || seed
	trap - EXIT
	show
	;;
stop)
	stop
	;;
stop-site)
	site_arg "${2:-}"
	demo_bin
	[ -n "$(nodes "$2")" ] || die "$2 is not running"
	stop_nodes "$2"
	echo "demo: $2 is stopped: post at the other sites, then deploy/demo.sh start-site $2"
	;;
start-site)
	site_arg "${2:-}"
	demo_bin
	[ -z "$(nodes "$2")" ] || die "$2 is running already (pid $(nodes "$2" | cut -d' ' -f2))"
	start_site "$2"
	wait_up "$2"
	echo "demo: $2 started again (pid $(cat "$DIR/$2.pid"), log $DIR/$2.log): it catches up with the others"
	;;
*)
	echo "usage: deploy/demo.sh start BIN | stop | stop-site SITE | start-site SITE" >&2
	exit 2
	;;
esac
