# Test topologies in network namespaces: nodes, veth links, addresses (IPv4
# and IPv6), routes, static neighbours, forwarding on in routers; always torn
# down (EXIT/INT/TERM/HUP traps; topo_destroy is safe to call again).
# shellcheck shell=bash
#
#   source tests/lib/topo.sh
#   topo_create sender r1 r2 receiver   # a linear chain; ends are hosts
#   topo_exec sender ping -c1 "$(topo_addr receiver)"
#   topo_addr r1 toward receiver        # r1's address on its link toward receiver
#   topo_addr -6 receiver               # the IPv6 one
#   topo_spawn router ./nfq_echo -q 3   # background process, killed at teardown
#   topo_destroy                        # also runs at exit
#
# Names. Every run picks a tag: 6 hex digits of the shell's pid and 2 random
# ones (TOPO_TAG, e.g. 01a2b3c4), checked unused. Node NODE lives in the
# namespace ns-<tag>-NODE (topo_ns NODE); the veth ends of link L are
# v<tag><L in 2 hex>a and ...b (12 characters: under the 15 of IFNAMSIZ).
# The veths are created directly inside the namespaces, so nothing ever
# appears in the caller's namespace.
#
# Addresses. Links are numbered 1, 2, ... over the whole run (at most 255).
# Link L joins its chain's node i (side a) and node i+1 (side b) with
# 10.L.0.0/24 and fd00:L::/64 ("L" written in decimal): side a is .1 / ::1,
# side b is .2 / ::2. MACs are 02:4e:53:00:LL:01 (a) and ...:02 (b); both
# ends hold permanent neighbour entries for each other (no ARP/ND delays) and
# IPv6 DAD is off. The two ends of a chain get default routes toward their
# only neighbour; the nodes in between (routers) get a route to every subnet
# of the chain and have IPv4 and IPv6 forwarding on.
#
# Caveats. Call the functions from the main shell, not in a ( subshell ): they
# keep state in shell variables. Bash runs a trap only after the foreground
# command ends, so a test that waits long should wait in short steps (or
# `sleep N & wait $!`) to be torn down promptly on SIGTERM. If the caller sets
# its own EXIT trap after topo_create, it must call topo_destroy itself;
# traps set before the first topo_create/topo_node are kept and run first.
# SIGKILL cannot be trapped: topo_gc removes the namespaces of dead runs.
source "$(dirname "${BASH_SOURCE[0]}")/cgroup.sh"

[ -n "${TOPO_LOADED:-}" ] && return 0
TOPO_LOADED=1

TOPO_NODES=()         # every node, in creation order
TOPO_PIDS=()          # processes started with topo_spawn
TOPO_LINKS=0          # links made so far
declare -A TOPO_CHAIN # node -> "the chain's nodes, space separated"
declare -A TOPO_POS   # node -> its position in its chain (0-based)
declare -A TOPO_LEFT  # node -> link number toward the previous node
declare -A TOPO_RIGHT # node -> link number toward the next node
TOPO_TRAPPED=
TOPO_DESTROYING=
TOPO_LAST_PID=

# The names of all named namespaces (the directory ip netns uses; reading it
# is faster than `ip netns list` and never trips over a namespace that is
# being deleted at that moment).
topo__all_ns() {
	if [ -d /var/run/netns ]; then
		ls -1 /var/run/netns 2>/dev/null
	else
		ip netns list 2>/dev/null | awk '{ print $1 }'
	fi
}

topo__err() {
	echo "topo: $*" >&2
	return 1
}

# Picks a tag no namespace of this machine uses yet.
topo__pick_tag() {
	local t try
	for try in $(seq 1 50); do
		t=$(printf '%06x%02x' $(($$ & 0xffffff)) $((RANDOM & 255)))
		if ! topo__all_ns | grep -q "^ns-$t-"; then
			TOPO_TAG=$t
			return 0
		fi
	done
	topo__err "no free tag after $try tries"
}

if [ -z "${TOPO_TAG:-}" ]; then
	topo__pick_tag || return 1
fi
TOPO_NS_PREFIX=ns-$TOPO_TAG-
TOPO_IF_PREFIX=v$TOPO_TAG

# topo_ns NODE: the node's namespace name.
topo_ns() {
	echo "$TOPO_NS_PREFIX$1"
}

# topo_exec NODE CMD...: runs CMD inside NODE's namespace.
topo_exec() {
	local node=$1
	shift
	ip netns exec "$TOPO_NS_PREFIX$node" "$@"
}

# topo_spawn NODE CMD...: starts CMD in the background inside NODE's namespace
# (stdout/stderr as the caller redirects the call); sets TOPO_LAST_PID. The
# process is killed at teardown (it is killed anyway as part of its
# namespace; this also reaps it).
topo_spawn() {
	local node=$1
	shift
	ip netns exec "$TOPO_NS_PREFIX$node" "$@" &
	TOPO_LAST_PID=$!
	TOPO_PIDS+=("$TOPO_LAST_PID")
}

# topo_kill PID [SIGNAL]: signals a process started with topo_spawn and reaps
# it; returns its exit status.
topo_kill() {
	local pid=$1 sig=${2:-TERM} rc=0
	kill -"$sig" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# Runs the previous handler of a trapped condition, then ours.
topo__on_exit() {
	local rc=$?
	if [ -n "${TOPO_PREV_EXIT:-}" ]; then
		eval "$TOPO_PREV_EXIT"
	fi
	topo_destroy
	return "$rc"
}

topo__on_signal() {
	local sig=$1 num=$2 prev
	prev=TOPO_PREV_$sig
	# A second signal must not cut the teardown short.
	trap '' INT TERM HUP
	if [ -n "${!prev:-}" ]; then
		eval "${!prev}"
	fi
	# exit runs the EXIT trap, which tears down.
	exit $((128 + num))
}

# The command of the current trap on a condition, or nothing.
topo__trap_cmd() {
	local t
	t=$(trap -p "$1")
	[ -n "$t" ] || return 0
	eval "set -- $t"
	printf '%s' "$3"
}

topo__install_traps() {
	[ -n "$TOPO_TRAPPED" ] && return 0
	TOPO_TRAPPED=1
	TOPO_PREV_EXIT=$(topo__trap_cmd EXIT)
	TOPO_PREV_INT=$(topo__trap_cmd INT)
	TOPO_PREV_TERM=$(topo__trap_cmd TERM)
	TOPO_PREV_HUP=$(topo__trap_cmd HUP)
	trap topo__on_exit EXIT
	trap 'topo__on_signal INT 2' INT
	trap 'topo__on_signal TERM 15' TERM
	trap 'topo__on_signal HUP 1' HUP
}

topo__valid_name() {
	[[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$ ]] || topo__err "bad node name '$1'"
}

# Creates one namespace with loopback up and its sysctls set.
topo__add_ns() {
	local node=$1 ns=$TOPO_NS_PREFIX$1 fwd=$2
	topo__valid_name "$node" || return 1
	[ -z "${TOPO_POS[$node]+x}" ] || topo__err "node '$node' exists" || return 1
	ip netns add "$ns" || topo__err "ip netns add $ns failed" || return 1
	TOPO_NODES+=("$node")
	TOPO_POS[$node]=0
	TOPO_CHAIN[$node]=$node
	ip netns exec "$ns" sysctl -q -w \
		net.ipv4.ip_forward="$fwd" \
		net.ipv6.conf.all.forwarding="$fwd" \
		net.ipv6.conf.default.forwarding="$fwd" \
		net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 \
		net.ipv6.conf.default.accept_ra=0 \
		net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 >/dev/null ||
		topo__err "sysctl in $ns failed" || return 1
	ip -n "$ns" link set lo up || return 1
}

# topo_node NODE [forward]: one lone namespace (no links); with `forward`,
# IP forwarding is on.
topo_node() {
	topo__install_traps
	topo__add_ns "$1" "$([ "${2:-}" = forward ] && echo 1 || echo 0)"
}

# topo_create NODE NODE...: a linear chain; the first and last nodes are hosts,
# the ones in between routers. May be called several times (new node names
# each time); every link gets its own subnet.
topo_create() {
	local nodes=("$@") n=$# i node
	[ "$n" -ge 2 ] || topo__err "topo_create needs at least two nodes" || return 1
	[ $((TOPO_LINKS + n - 1)) -le 255 ] || topo__err "more than 255 links" || return 1
	topo__install_traps
	for ((i = 0; i < n; i++)); do
		node=${nodes[i]}
		if [ "$i" -eq 0 ] || [ "$i" -eq $((n - 1)) ]; then
			topo__add_ns "$node" 0 || return 1
		else
			topo__add_ns "$node" 1 || return 1
		fi
		TOPO_POS[$node]=$i
		TOPO_CHAIN[$node]="${nodes[*]}"
	done
	# Links, made from here straight into the two namespaces.
	local L first=$((TOPO_LINKS + 1)) a b batch=""
	for ((i = 0; i < n - 1; i++)); do
		L=$((first + i))
		a=${nodes[i]}
		b=${nodes[i + 1]}
		TOPO_RIGHT[$a]=$L
		TOPO_LEFT[$b]=$L
		batch+="link add $(topo__ifname "$L" a) address $(topo__mac "$L" a) netns $TOPO_NS_PREFIX$a"
		batch+=" type veth peer name $(topo__ifname "$L" b) address $(topo__mac "$L" b)"
		batch+=" netns $TOPO_NS_PREFIX$b"$'\n'
	done
	TOPO_LINKS=$((first + n - 2))
	ip -batch - <<<"$batch" || topo__err "creating the veth links failed" || return 1
	# Per node: addresses, links up, neighbours, routes.
	local last=$((first + n - 2)) j gw side me peer dev
	for ((i = 0; i < n; i++)); do
		node=${nodes[i]}
		batch=""
		for side in left right; do
			if [ $side = left ]; then
				L=${TOPO_LEFT[$node]:-}
				me=b peer=a
			else
				L=${TOPO_RIGHT[$node]:-}
				me=a peer=b
			fi
			[ -n "$L" ] || continue
			dev=$(topo__ifname "$L" $me)
			batch+="addr add $(topo__ip4 "$L" $me)/24 dev $dev"$'\n'
			batch+="addr add $(topo__ip6 "$L" $me)/64 dev $dev nodad"$'\n'
			batch+="link set $dev up"$'\n'
			batch+="neigh replace $(topo__ip4 "$L" $peer) lladdr $(topo__mac "$L" $peer) dev $dev nud permanent"$'\n'
			batch+="neigh replace $(topo__ip6 "$L" $peer) lladdr $(topo__mac "$L" $peer) dev $dev nud permanent"$'\n'
		done
		if [ "$i" -eq 0 ]; then
			L=${TOPO_RIGHT[$node]}
			batch+="route add default via $(topo__ip4 "$L" b)"$'\n'
			batch+="route add ::/0 via $(topo__ip6 "$L" b)"$'\n'
		elif [ "$i" -eq $((n - 1)) ]; then
			L=${TOPO_LEFT[$node]}
			batch+="route add default via $(topo__ip4 "$L" a)"$'\n'
			batch+="route add ::/0 via $(topo__ip6 "$L" a)"$'\n'
		else
			for ((j = first; j <= last; j++)); do
				if [ "$j" -lt "${TOPO_LEFT[$node]}" ]; then
					gw=a
					L=${TOPO_LEFT[$node]}
				elif [ "$j" -gt "${TOPO_RIGHT[$node]}" ]; then
					gw=b
					L=${TOPO_RIGHT[$node]}
				else
					continue
				fi
				batch+="route add 10.$j.0.0/24 via $(topo__ip4 "$L" $gw)"$'\n'
				batch+="route add fd00:$j::/64 via $(topo__ip6 "$L" $gw)"$'\n'
			done
		fi
		ip -n "$TOPO_NS_PREFIX$node" -batch - <<<"$batch" ||
			topo__err "configuring $node failed" || return 1
	done
}

topo__ifname() { printf '%s%02x%s' "$TOPO_IF_PREFIX" "$1" "$2"; }
topo__mac() { printf '02:4e:53:00:%02x:%s' "$1" "$([ "$2" = a ] && echo 01 || echo 02)"; }
topo__ip4() { printf '10.%d.0.%s' "$1" "$([ "$2" = a ] && echo 1 || echo 2)"; }
topo__ip6() { printf 'fd00:%d::%s' "$1" "$([ "$2" = a ] && echo 1 || echo 2)"; }

# Sets TOPO__L and TOPO__SIDE to NODE's link toward NEXT (or its first link).
topo__link_of() {
	local node=$1 next=${2:-}
	[ -n "${TOPO_POS[$node]+x}" ] || topo__err "no node '$node'" || return 1
	if [ -n "$next" ]; then
		[ -n "${TOPO_POS[$next]+x}" ] || topo__err "no node '$next'" || return 1
		[ "${TOPO_CHAIN[$node]}" = "${TOPO_CHAIN[$next]}" ] ||
			topo__err "$node and $next are not in one chain" || return 1
		if [ "${TOPO_POS[$next]}" -gt "${TOPO_POS[$node]}" ]; then
			TOPO__L=${TOPO_RIGHT[$node]:-}
			TOPO__SIDE=a
		elif [ "${TOPO_POS[$next]}" -lt "${TOPO_POS[$node]}" ]; then
			TOPO__L=${TOPO_LEFT[$node]:-}
			TOPO__SIDE=b
		else
			topo__err "$node toward itself" || return 1
		fi
	elif [ -n "${TOPO_LEFT[$node]:-}" ]; then
		TOPO__L=${TOPO_LEFT[$node]}
		TOPO__SIDE=b
	else
		TOPO__L=${TOPO_RIGHT[$node]:-}
		TOPO__SIDE=a
	fi
	[ -n "$TOPO__L" ] || topo__err "node '$node' has no link" || return 1
}

# topo_addr [-4|-6] NODE [toward NEXT]: NODE's address on its link toward NEXT
# (NEXT anywhere along the same chain), or on its first link (a host's only
# one; a router's link toward the start of the chain).
topo_addr() {
	local fam=4
	case ${1:-} in -4 | -6) fam=${1#-} && shift ;; esac
	local node=$1 next=
	[ "${2:-}" = toward ] && next=${3:-}
	topo__link_of "$node" "$next" || return 1
	if [ "$fam" = 6 ]; then topo__ip6 "$TOPO__L" "$TOPO__SIDE"; else topo__ip4 "$TOPO__L" "$TOPO__SIDE"; fi
	echo
}

# topo_if NODE [toward NEXT]: the name of NODE's interface toward NEXT.
topo_if() {
	local node=$1 next=
	[ "${2:-}" = toward ] && next=${3:-}
	topo__link_of "$node" "$next" || return 1
	topo__ifname "$TOPO__L" "$TOPO__SIDE"
	echo
}

# topo_nodes: the nodes, one per line.
topo_nodes() {
	local n
	for n in "${TOPO_NODES[@]}"; do echo "$n"; done
}

# The namespaces of this run that exist now.
topo__our_ns() {
	topo__all_ns | awk -v p="$TOPO_NS_PREFIX" 'index($1, p) == 1 { print $1 }'
}

# Signals every process inside the given namespaces, except this shell.
topo__kill_in() {
	local sig=$1 ns pid any=1
	shift
	for ns in "$@"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
			kill -"$sig" "$pid" 2>/dev/null && any=0
		done
	done
	return $any
}

# topo_destroy: kills every process in this run's namespaces and the ones
# topo_spawn started, deletes the namespaces (and with them the veths), and
# any stray link named with this run's prefix. Safe to call again.
topo_destroy() {
	[ -n "$TOPO_DESTROYING" ] && return 0
	TOPO_DESTROYING=1
	local nss pid i
	mapfile -t nss < <(topo__our_ns)
	for pid in "${TOPO_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	if [ ${#nss[@]} -gt 0 ] && topo__kill_in TERM "${nss[@]}"; then
		for i in $(seq 1 20); do
			topo__kill_in 0 "${nss[@]}" || break
			sleep 0.05
		done
		topo__kill_in KILL "${nss[@]}"
	fi
	for pid in "${TOPO_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for i in "${nss[@]}"; do ip netns del "$i" 2>/dev/null; done
	# Our netservds' cgroups (netserv-<test>-$TOPO_TAG...), if one was killed.
	cgroups_remove "netserv-*-$TOPO_TAG"
	cgroups_remove "netserv-*-$TOPO_TAG-*"
	for i in $(ip -o link show 2>/dev/null | awk -F': ' -v p="$TOPO_IF_PREFIX" \
		'{ sub(/@.*/, "", $2); if (index($2, p) == 1) print $2 }'); do
		ip link del "$i" 2>/dev/null
	done
	TOPO_PIDS=()
	TOPO_NODES=()
	TOPO_CHAIN=()
	TOPO_POS=()
	TOPO_LEFT=()
	TOPO_RIGHT=()
	TOPO_LINKS=0
	TOPO_DESTROYING=
}

# topo_leftovers [TAG]: lists namespaces and links (in this namespace) of the
# run TAG (default: this run); prints nothing when all is clean.
topo_leftovers() {
	local tag=${1:-$TOPO_TAG}
	topo__all_ns | awk -v p="ns-$tag-" 'index($1, p) == 1 { print "netns " $1 }'
	ip -o link show 2>/dev/null | awk -F': ' -v p="v$tag" \
		'{ sub(/@.*/, "", $2); if (index($2, p) == 1) print "link " $2 }'
}

# topo_gc: deletes the namespaces of runs whose shell is gone (a test killed
# with SIGKILL), judged by the pid in their tag. Leaves live runs alone.
topo_gc() {
	local ns tag pid
	for ns in $(topo__all_ns | grep -E '^ns-[0-9a-f]{8}-'); do
		tag=${ns:3:8}
		pid=$((16#${tag:0:6}))
		[ "$tag" = "$TOPO_TAG" ] && continue
		kill -0 "$pid" 2>/dev/null && continue
		topo__kill_in KILL "$ns"
		ip netns del "$ns" 2>/dev/null
	done
}
