#!/usr/bin/env bash
# The gateway on net_af_xdp: one end of a veth pair in the host, the other inside a network
# namespace the test creates, where tests/tools/udppeer.py sends a cwgen workload through the
# kernel's UDP stack and collects the answers. The answers (as a multiset of payloads) and the
# counters must equal `cwctl simulate` on the same requests rewritten to the namespace's
# addresses, every message must get its verdict and the accounting must add up.
# Requests longer than the link's MTU (1500) leave the namespace in IPv4 fragments; the reference
# capture holds them fragmented the same way, so the gateway must count every fragment as simulate
# does (cw_steer.bpf.c sends a CWP datagram's later fragments after its first one).
# Two runs: with our steering program (xdp_prog=build/cw_steer.bpf.o), where the host must keep
# answering ARP and ping from the namespace while the gateway runs (non-CWP traffic is passed to
# the kernel), and with the PMD's default program, which takes every frame of the queue (so the
# namespace gets a static neighbour entry for the host).
# Needs root, veth, network namespaces and AF_XDP; says "skipped: <why>" and exits 0 without.
source "$(dirname "$0")/../tools/gw-common.sh"

skip() {
	echo "skipped: $*"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "not root (network namespaces, veth and XDP need it)"
command -v ip >/dev/null || skip "no ip command (iproute2)"
python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null ||
	skip "AF_XDP sockets are not available in this kernel"
pmd=$(find /usr/lib /usr/local/lib -name 'librte_net_af_xdp.so*' 2>/dev/null | head -1)
[ -n "$pmd" ] || skip "DPDK's net_af_xdp driver is not installed"
build_tools
XDP_OBJ=$BUILD/cw_steer.bpf.o
[ -f "$XDP_OBJ" ] || fail "$XDP_OBJ is not built"
PEER=$ROOT/tests/tools/udppeer.py

# Unique names (interface names: at most 15 characters) and a /30 of 198.18.0.0/15 (RFC 2544,
# benchmarking) derived from the PID, so that parallel runs do not collide.
NS=cwxdp$$
HOST_IF=cwxh$$
NS_IF=cwxn$$
net=$((($$ & 0x3FFF) * 4))
HOST_IP=198.$((18 + (net >> 16))).$(((net >> 8) & 255)).$(((net & 255) + 1))
NS_IP=198.$((18 + (net >> 16))).$(((net >> 8) & 255)).$(((net & 255) + 2))
SPORT=$((40000 + $$ % 20000))

net_cleanup() {
	local p
	for p in "${GW_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	ip link del "$HOST_IF" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
}
trap 'net_cleanup; cleanup' EXIT
trap 'exit 130' INT TERM

ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
ip link add "$HOST_IF" type veth peer name "$NS_IF" 2>/dev/null || skip "cannot create a veth pair"
# The namespace sends nothing of its own (no IPv6 neighbour discovery or router solicitations),
# so that every frame the gateway receives is a request.
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link set "$NS_IF" netns "$NS"
ip addr add "$HOST_IP/30" dev "$HOST_IF"
ip link set "$HOST_IF" mtu 1500 up
ip netns exec "$NS" ip addr add "$NS_IP/30" dev "$NS_IF"
ip netns exec "$NS" ip link set "$NS_IF" mtu 1500 up
ip netns exec "$NS" ip link set lo up
# veth leaves UDP checksums to "the hardware" (only the pseudo-header sum in the frame); AF_XDP
# copies frames as they are, so the sender's side computes them in software.
ip netns exec "$NS" python3 "$PEER" txcsum-off "$NS_IF"
HOST_MAC=$(cat "/sys/class/net/$HOST_IF/address")

# The workload, its senders admitting the namespace's address, and the reference answers.
w=$WORK/load
workload --seed 7 --messages 20000 --ipv6 0 --vlan 0 --out "$w"
python3 "$PEER" senders "$w/senders.csv" "$w/senders-ns.csv" "$NS_IP/32"
python3 "$PEER" rewrite "$w/requests.pcap" "$w/plain.pcap" "$NS_IP" "$HOST_IP" "$SPORT" 7350 9000 >/dev/null
python3 "$PEER" rewrite "$w/requests.pcap" "$w/ns.pcap" "$NS_IP" "$HOST_IP" "$SPORT" 7350 1500 >/dev/null
files=(--rules "$w/rules.cw" --registry "$w/registry.csv" --senders "$w/senders-ns.csv")
simulate "$w/ns.pcap" "$w/sim.pcap" "${files[@]}"

# start_gateway NAME VDEV: runs clearway in the background and waits until its port is up.
start_gateway() {
	local name=$1 vdev=$2 i
	# shellcheck disable=SC2046
	( # capped as in capped(), but a plain subshell so that $! is the gateway itself
		case "$GW" in *build-asan*) ;; *) ulimit -v 8388608 ;; esac
		export LIBXDP_SKIP_DISPATCHER=1
		exec "$GW" $(eal_args "$name") --vdev "$vdev" \
			-- "${files[@]}" --summary-json "$WORK/$name.json" >"$WORK/$name.out" 2>&1
	) &
	GW_PID=$!
	GW_PIDS+=("$GW_PID")
	watchdog "$GW_PID" 300 # should the sender hang
	for ((i = 0; i < 600; i++)); do
		grep -qs 'UDP port' "$WORK/$name.out" && return 0
		kill -0 "$GW_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -30 "$WORK/$name.out" >&2
	fail "$name: the gateway did not start on $HOST_IF"
}

# stop_gateway NAME: SIGTERM, then the checks on its summary.
stop_gateway() {
	local name=$1
	kill -TERM "$GW_PID"
	wait "$GW_PID" || { tail -30 "$WORK/$name.out" >&2; fail "$name: clearway exited with $?"; }
	GW_PIDS=()
	check_accounting "$WORK/$name.json"
}

exchange() { # NAME
	ip netns exec "$NS" python3 "$PEER" exchange "$w/plain.pcap" "$HOST_IP" 7350 "$SPORT" 1500 \
		"$WORK/$1.answers" && return 0
	kill -TERM "$GW_PID" && wait "$GW_PID"
	GW_PIDS=()
	sed -n '/summary/,$p' "$WORK/$1.out" >&2
	fail "$1: not every message was answered"
}

# 1. Our steering program: CWP to the gateway, the rest to the kernel.
start_gateway steer "net_af_xdp0,iface=$HOST_IF,start_queue=0,queue_count=1,xdp_prog=$XDP_OBJ"
ip link show "$HOST_IF" | grep -q 'prog/xdp.*cw_steer' || fail "steer: cw_steer is not attached"
exchange steer
# The namespace learnt the host's MAC by ARP (no static entry in this run), and ping works.
neigh=$(ip netns exec "$NS" ip neigh show "$HOST_IP" dev "$NS_IF")
case "$neigh" in
*PERMANENT*) fail "steer: unexpected static neighbour entry: $neigh" ;;
*"lladdr $HOST_MAC"*) ;;
*) fail "steer: the host did not answer ARP: '$neigh'" ;;
esac
ip netns exec "$NS" ip neigh flush dev "$NS_IF"
ip netns exec "$NS" python3 "$PEER" ping "$HOST_IP" >/dev/null || fail "steer: no ping reply"
ip netns exec "$NS" ip neigh show "$HOST_IP" dev "$NS_IF" | grep -q "lladdr $HOST_MAC" ||
	fail "steer: no ARP answer after the flush"
echo "steer: ARP and ping answered by the host while the gateway ran"
stop_gateway steer
python3 "$PEER" compare "$WORK/steer.answers" "$w/sim.pcap" || fail "steer: answers differ"
compare_counters "$w/sim.pcap.json" "$WORK/steer.json" || fail "steer: counters differ"
[ "$(json_get "$WORK/steer.json" frame_drops.FRAGMENT)" -gt 0 ] || fail "steer: no fragment counted"
echo "steer: $(json_get "$WORK/steer.json" accounting)"
if ip link show "$HOST_IF" | grep -q 'prog/xdp'; then
	fail "steer: the XDP program is still attached after the gateway stopped"
fi

# 2. The PMD's default program: every frame of queue 0 goes to the gateway, ARP included.
ip netns exec "$NS" ip neigh replace "$HOST_IP" lladdr "$HOST_MAC" dev "$NS_IF" nud permanent
start_gateway default "net_af_xdp0,iface=$HOST_IF,start_queue=0,queue_count=1"
exchange default
stop_gateway default
python3 "$PEER" compare "$WORK/default.answers" "$w/sim.pcap" || fail "default: answers differ"
# Every frame of the queue reaches the gateway here: under load the namespace's or host's kernel
# may still exchange an ARP frame or two on the link (seen once in a loaded `make test`), which
# the gateway rightly counts as an L2 drop. Those, and only those, may come on top.
compare_counters "$w/sim.pcap.json" "$WORK/default.json" --extra-l2 || fail "default: counters differ"
echo "default: $(json_get "$WORK/default.json" accounting)"
