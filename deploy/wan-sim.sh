#!/bin/sh
# A WAN on one machine: the three demo sites (Paris, Lyon, Nantes) each in a
# network namespace, linked through a bridge in a fourth namespace, with tc
# netem delay, loss and bandwidth on every link; a site's link can be cut and
# healed to watch the federation keep working and converge. Needs root, ip,
# bridge and tc (Debian package iproute2).
#
#   deploy/wan-sim.sh up BIN       namespaces, links, the three sites running
#   deploy/wan-sim.sh cut SITE     drop every packet to and from SITE
#   deploy/wan-sim.sh heal SITE    restore SITE's link
#   deploy/wan-sim.sh status       links, shaping, each node's peers
#   deploy/wan-sim.sh exec SITE CMD...   run CMD in SITE's namespace
#   deploy/wan-sim.sh down         stop the nodes, remove namespaces and data
#
# Environment (for up): COMPTOIR_WAN_DIR (default ./wan-sim);
# COMPTOIR_WAN_DELAY_MS one-way delay of each site's access link, applied in
# each direction, so site to site is 2x and a round trip 4x (default 20);
# COMPTOIR_WAN_JITTER_MS (0); COMPTOIR_WAN_LOSS percent per link and direction
# (0); COMPTOIR_WAN_RATE bandwidth of each link and direction, tc syntax such as
# 10mbit (empty: unlimited); COMPTOIR_WAN_HEARTBEAT_MS and
# COMPTOIR_WAN_RECONCILE_S, the sites' sync settings (1000 and 60, the
# defaults); COMPTOIR_WAN_SEED=0 skips the sample posts. For every command:
# COMPTOIR_WAN_NETNS, the prefix of the namespace names (default comptoir-;
# tests use their own so as not to meet a simulation someone runs).
#
# Everything it creates is named comptoir-*: namespaces comptoir-wan (the
# bridge comptoir-br and one veth comptoir-SITE per site) and comptoir-SITE
# (veth comptoir-wan, address 10.77.0.N/24). The host's own interfaces and
# routes are never touched: the veths are created inside the namespaces. Each node serves HTTP on its site address, port
# 8080, reachable from the namespaces only:
#   deploy/wan-sim.sh exec lyon curl -s http://10.77.0.2:8080/api/status
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${COMPTOIR_WAN_DIR:-./wan-sim}
SITES="paris lyon nantes"
NET=10.77.0
P=${COMPTOIR_WAN_NETNS:-comptoir-}
case $P in comptoir-*) ;; *) echo "wan-sim: COMPTOIR_WAN_NETNS must start with comptoir-" >&2; exit 1 ;; esac
WAN=${P}wan
BR=comptoir-br

die() {
	echo "wan-sim: $*" >&2
	exit 1
}

addr_of() {
	case $1 in
	paris) echo $NET.1 ;;
	lyon) echo $NET.2 ;;
	nantes) echo $NET.3 ;;
	*) die "unknown site \"$1\" (paris, lyon or nantes)" ;;
	esac
}

need_tools() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces and tc)"
	for t in ip tc bridge; do
		command -v $t >/dev/null 2>&1 ||
			die "$t not found: install the Debian package iproute2 (apt-get install iproute2)"
	done
}

ns_exists() {
	ip netns list 2>/dev/null | grep -q "^$1\( \|$\)"
}

# The environment deploy/demo.sh needs to create and run the sites in here.
demo_env() {
	export COMPTOIR_DEMO_DIR="$DIR"
	export COMPTOIR_DEMO_HOSTS="$NET.1 $NET.2 $NET.3"
	export COMPTOIR_DEMO_HTTP_PORTS="8080 8080 8080"
	export COMPTOIR_DEMO_SYNC_PORTS="7400 7400 7400"
	export COMPTOIR_DEMO_NETNS="$P"
}

# netem on both ends of SITE's link when the kernel has it (sch_netem); a
# token bucket for the bandwidth alone otherwise. Sets no_netem when missing.
shape() {
	s=$1
	delay=${COMPTOIR_WAN_DELAY_MS:-20}
	jitter=${COMPTOIR_WAN_JITTER_MS:-0}
	loss=${COMPTOIR_WAN_LOSS:-0}
	rate=${COMPTOIR_WAN_RATE:-}
	netem="delay ${delay}ms ${jitter}ms loss ${loss}%${rate:+ rate $rate}"
	for end in "$WAN comptoir-$s" "$P$s comptoir-wan"; do
		set -- $end
		err=$(tc -n "$1" qdisc replace dev "$2" root netem $netem 2>&1) && continue
		case $err in
		*"kind is unknown"* | *"No such file"*) no_netem=1 ;;
		*) die "tc netem $netem: $err" ;;
		esac
		[ -z "$rate" ] ||
			tc -n "$1" qdisc replace dev "$2" root tbf rate "$rate" burst 32kbit latency 400ms ||
			die "tc tbf rate $rate failed on $2 in $1"
	done
}

up() {
	[ $# -eq 1 ] || die "usage: deploy/wan-sim.sh up BIN"
	need_tools
	command -v python3 >/dev/null || die "python3 is needed (deploy/install-deps.sh installs it)"
	BIN=$1
	[ -x "$BIN" ] || die "$BIN: no such binary (run make first)"
	for n in "$WAN" $(for s in $SITES; do echo "$P$s"; done); do
		ns_exists "$n" && die "namespace $n exists: the simulation is up (deploy/wan-sim.sh down)"
	done
	ip netns add "$WAN" 2>/dev/null ||
		die "cannot create a network namespace (a container without CAP_SYS_ADMIN?)"
	trap 'echo "wan-sim: up failed; tearing down" >&2; down >&2' EXIT
	ip -n "$WAN" link set lo up
	ip -n "$WAN" link add $BR type bridge
	ip -n "$WAN" link set $BR up
	no_netem=
	for s in $SITES; do
		ns=$P$s
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip -n "$WAN" link add "comptoir-$s" type veth peer name comptoir-wan netns "$ns"
		ip -n "$WAN" link set "comptoir-$s" master $BR up
		ip -n "$ns" addr add "$(addr_of "$s")/24" dev comptoir-wan
		ip -n "$ns" link set comptoir-wan up
		shape "$s"
	done
	demo_env
	# The sites' sync settings go into each config before the first start.
	COMPTOIR_DEMO_SYNC_CONF="sync:
  heartbeat_ms: ${COMPTOIR_WAN_HEARTBEAT_MS:-1000}
  reconcile_interval: ${COMPTOIR_WAN_RECONCILE_S:-60}"
	export COMPTOIR_DEMO_SYNC_CONF
	export COMPTOIR_DEMO_SEED="${COMPTOIR_WAN_SEED:-1}"
	sh "$HERE/demo.sh" start "$BIN"
	trap - EXIT
	if [ -n "$no_netem" ]; then
		echo "wan-sim: this kernel has no tc netem (sch_netem): links run without delay or loss${COMPTOIR_WAN_RATE:+ (bandwidth limited by tbf)}"
	else
		echo "wan-sim: every link: $netem"
	fi
	echo "wan-sim: up. Cut a link: deploy/wan-sim.sh cut lyon; heal it: deploy/wan-sim.sh heal lyon"
}

# A cut port of the bridge forwards nothing either way, but both ends keep
# their carrier: to the nodes it looks like a WAN that silently drops packets.
cut() {
	need_tools
	addr_of "$1" >/dev/null
	ns_exists "$WAN" || die "the simulation is not up"
	ip netns exec "$WAN" bridge link set dev "comptoir-$1" state 0
	echo "wan-sim: $1 cut off"
}

heal() {
	need_tools
	addr_of "$1" >/dev/null
	ns_exists "$WAN" || die "the simulation is not up"
	ip netns exec "$WAN" bridge link set dev "comptoir-$1" state 3
	echo "wan-sim: $1 reconnected"
}

status() {
	need_tools
	ns_exists "$WAN" || { echo "wan-sim: down"; return 0; }
	demo_env
	for s in $SITES; do
		ns_exists "$P$s" || { echo "$s: no namespace"; continue; }
		state=$(ip netns exec "$WAN" bridge link show dev "comptoir-$s" 2>/dev/null |
			sed -n 's/.* state \([a-z]*\).*/\1/p')
		[ "$state" = forwarding ] && link=up || link="CUT ($state)"
		pid=$(cat "$DIR/$s.pid" 2>/dev/null || echo "?")
		kill -0 "$pid" 2>/dev/null && run="pid $pid" || run="not running"
		printf '%-7s %-10s link %-18s node %s\n' "$s" "$(addr_of "$s")" "$link" "$run"
		printf '        shaping: %s\n' "$(tc -n "$P$s" qdisc show dev comptoir-wan | sed -n '1s/ refcnt [0-9]*//p')"
	done
	for s in $SITES; do
		[ -d "$DIR/$s" ] || continue
		echo "--- $s"
		"$(cat "$DIR/bin" 2>/dev/null || echo comptoir)" status --dir "$DIR/$s" | sed -n '/^events:/p;/^node:/,$p'
	done
}

down() {
	[ "$(id -u)" -eq 0 ] || die "needs root"
	demo_env
	rc=0
	if [ -f "$DIR/.comptoir-demo" ]; then
		# A failed stop (a node slow to go) must not keep the namespaces:
		# they are removed all the same, and down says it failed.
		sh "$HERE/demo.sh" stop || {
			rc=1
			echo "wan-sim: stopping the nodes failed; removing the namespaces anyway" >&2
		}
	fi
	for n in $(for s in $SITES; do echo "$P$s"; done) "$WAN"; do
		if ns_exists "$n"; then
			if ip netns del "$n"; then
				echo "wan-sim: removed namespace $n"
			else
				rc=1
			fi
		fi
	done
	return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) up "$@" ;;
cut | heal)
	[ $# -eq 1 ] || die "usage: deploy/wan-sim.sh $cmd SITE"
	$cmd "$1"
	;;
status) status ;;
exec)
	[ $# -ge 2 ] || die "usage: deploy/wan-sim.sh exec SITE COMMAND..."
	addr_of "$1" >/dev/null
	s=$1
	shift
	exec ip netns exec "$P$s" "$@"
	;;
down) down ;;
*)
	echo "usage: deploy/wan-sim.sh up BIN | cut SITE | heal SITE | status | exec SITE CMD... | down" >&2
	exit 2
	;;
esac
