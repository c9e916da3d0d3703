#!/usr/bin/env bash
# bench/run.sh - the benchmarks of DESIGN §8 (`make bench`).
#
# Why this file exists: every performance figure the project quotes comes from here, measured
# the same way each time and always next to a baseline from the same run (testpmd io-forwarding,
# the engine behind kernel sockets), so that numbers from a noisy or different machine still
# compare. docs/benchmarks.md explains each experiment and its limits.
#
# Knobs (environment variables):
#   QUICK=1            small run (about 5 minutes): fewer messages, 1 000 rules, fewer points
#   OUT=DIR            results directory (default bench/results/<UTC timestamp>); a copy goes to
#                      bench/results/latest/ unless LATEST=0
#   WORKER=N           CPU of the worker under test (default 1)
#   GEN_CORE=N         CPU of generators and main lcores (default 0)
#   SEED=N             cwgen seed (default 1)
#   MESSAGES=N         messages of the main workload (QUICK 200 000, full 1 000 000)
#   ENTERPRISES=N      registry size (default 1 000 000)
#   RULES=N            targeting rules (QUICK 1 000, full 10 000)
#   PROFILES=N         commodity profiles (default 5 000)
#   EXPERIMENTS="..."  subset of: ceiling clearway kernel latency scaling updates simulate
#   HUGE=auto|0        reserve 2 MB hugepages for the run when possible (auto), or never (0)
#   HUGE_MB=N          how much to reserve (default 4096)
#   STEP_TIMEOUT=S     longest any one process may run (QUICK 180, full 1200)
#   LAT_SECONDS=S      traffic per latency point (QUICK 3, full 10)
#   REPEAT=N           runs of each throughput experiment (ceiling, clearway, kernel, simulate),
#                      the fastest kept (QUICK 1, full 5): on a shared machine a neighbour's burst
#                      halves a single run; every run is listed in repeats.csv
#   WORK=DIR           scratch directory for workloads (default a mktemp dir, removed at the end)
#   KEEP_WORK=1        keep WORK
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
PY="python3 $ROOT/bench/lib/cwbench.py"
QUICK=${QUICK:-0}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/bench/results/$STAMP}
WORKER=${WORKER:-1}
GEN_CORE=${GEN_CORE:-0}
# This script and everything it starts without a CPU of its own (its polling loops, python, grep,
# cwctl, redis-server) stay on GEN_CORE: left to the scheduler, they land on the worker's CPU too
# (the other one is busy-polling), and each time the worker, preempted inside a burst, shows as
# slower. Measured: a 10 Hz loop of awk/grep/date beside a gateway at full load raised its busy
# cycles per message by 15-80 % for as long as it ran; pinned here, the same rule swaps moved them
# by 6 % (docs/benchmarks.md, (6c)). DPDK processes place their lcores themselves (-l), and the
# runs on the worker's CPU are started with taskset -c WORKER or --core WORKER.
taskset -pc "$GEN_CORE" $$ >/dev/null 2>&1 || true
SEED=${SEED:-1}
ENTERPRISES=${ENTERPRISES:-1000000}
PROFILES=${PROFILES:-5000}
HUGE=${HUGE:-auto}
HUGE_MB=${HUGE_MB:-4096}
if [ "$QUICK" = 1 ]; then
	MESSAGES=${MESSAGES:-200000}
	RULES=${RULES:-1000}
	STEP_TIMEOUT=${STEP_TIMEOUT:-180}
	LAT_SECONDS=${LAT_SECONDS:-3}
	SCALE_MESSAGES=${SCALE_MESSAGES:-50000}
	REPEAT=${REPEAT:-1}
else
	MESSAGES=${MESSAGES:-1000000}
	RULES=${RULES:-10000}
	STEP_TIMEOUT=${STEP_TIMEOUT:-1200}
	LAT_SECONDS=${LAT_SECONDS:-10}
	SCALE_MESSAGES=${SCALE_MESSAGES:-300000}
	REPEAT=${REPEAT:-5}
fi
EXPERIMENTS=${EXPERIMENTS:-ceiling clearway kernel latency scaling updates simulate}
WORK=${WORK:-$(mktemp -d /tmp/cwbench.XXXXXX)}
TAG=cwb$$
mkdir -p "$OUT" "$WORK"
LOG=$OUT/run.log
: >"$OUT/metrics.csv"
echo "experiment,run,key,value" >"$OUT/repeats.csv"
: >"$OUT/notes.txt"

say() { echo "[bench $(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
note() { echo "$*" >>"$OUT/notes.txt"; say "note: $*"; }
metric() { echo "$1,$2,$3,$4" >>"$OUT/metrics.csv"; }
cmdlog() { echo "$*" >>"$OUT/commands.txt"; }
want() { case " $EXPERIMENTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- hugepages and cleanup

HUGE_DIR=""
HUGE_RESTORE=""
NR=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$HUGE_DIR" ]; then umount "$HUGE_DIR" 2>/dev/null || true; rmdir "$HUGE_DIR" 2>/dev/null || true; fi
	if [ -n "$HUGE_RESTORE" ]; then echo "$HUGE_RESTORE" >"$NR" 2>/dev/null || true; fi
	if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

reserve_huge() {
	MEMMODE="no hugepages (--no-huge: 4 KB pages)"
	[ "$HUGE" = 0 ] && { note "hugepages not used (HUGE=0): --no-huge"; return; }
	local want=$((HUGE_MB / 2)) before free
	if [ ! -w "$NR" ]; then note "cannot reserve hugepages (no write access to $NR): --no-huge"; return; fi
	before=$(cat "$NR")
	free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	if [ "$free" -lt "$want" ]; then
		echo $((before + want - free)) >"$NR" 2>/dev/null || true
		HUGE_RESTORE=$before
		free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	fi
	if [ "$free" -lt "$want" ]; then
		note "only $free of $want hugepages could be reserved: --no-huge"
		[ -n "$HUGE_RESTORE" ] && echo "$HUGE_RESTORE" >"$NR" && HUGE_RESTORE=""
		return
	fi
	HUGE_DIR=$(mktemp -d /tmp/cwbench-huge.XXXXXX)
	if ! mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_DIR" 2>/dev/null; then
		rmdir "$HUGE_DIR"; HUGE_DIR=""
		note "hugetlbfs mount failed: --no-huge"
		return
	fi
	MEMMODE="hugepages (2 MB, $want pages reserved for this run, released at the end)"
	say "$MEMMODE"
}

# EAL memory arguments for a process that wants MB megabytes.
eal_mem() {
	if [ -n "$HUGE_DIR" ]; then echo "--huge-dir $HUGE_DIR --in-memory -m $1"; else echo "--no-huge --no-shconf -m $1"; fi
}
EAL_QUIET="--log-level=lib.*:notice --no-pci"

# ---------------------------------------------------------------- workloads

gen() { # gen DIR [cwgen flags...]: a workload, skipped when DIR already has one
	local dir=$1; shift
	[ -s "$dir/requests.pcap" ] && return 0
	cmdlog "$B/cwgen --seed $SEED --out $dir $*"
	"$B/cwgen" --seed "$SEED" --out "$dir" "$@" 2>"$dir.gen.log" || { say "cwgen failed: $*"; return 1; }
}

MAIN=$WORK/main
main_flags="--messages $MESSAGES --enterprises $ENTERPRISES --rules $RULES --profiles $PROFILES"

reg_cap() { local n=$1; [ "$n" -gt 838860 ] && echo $((n * 5 / 4)) || echo 1048576; }
mem_for() { # EAL megabytes for a workload with $1 enterprises and $2 rules
	local m=$((1024 + $1 / 4000 + $2 / 20))
	[ "$m" -gt "$HUGE_MB" ] && [ -n "$HUGE_DIR" ] && m=$HUGE_MB
	echo $m
}

# ---------------------------------------------------------------- clearway runs

# cw_pcap W JSON [extra gateway args]: clearway on W's capture (file RX, net_null TX), one worker.
cw_pcap() {
	local w=$1 json=$2; shift 2
	local ent rules
	ent=$(($(wc -l <"$w/registry.csv") - 1))
	rules=$(grep -c '^rule ' "$w/rules.cw")
	local cmd=(timeout -s INT "$STEP_TIMEOUT" "$B/clearway" -l "$GEN_CORE,$WORKER" $(eal_mem "$(mem_for "$ent" "$rules")")
		$EAL_QUIET --file-prefix "$TAG-cw" --vdev "net_pcap0,rx_pcap=$w/requests.pcap" --vdev net_null0
		-- --rules "$w/rules.cw" --registry "$w/registry.csv" --senders "$w/senders.csv"
		--registry-capacity "$(reg_cap "$ent")" --tx-port 1 --idle-exit 300 --summary-json "$json" "$@")
	cmdlog "${cmd[*]}"
	rm -f "$json"
	"${cmd[@]}" >"${json%.json}.out" 2>"${json%.json}.err"
	local rc=$?
	[ -s "$json" ] || { say "clearway run failed (rc $rc), see ${json%.json}.err"; return 1; }
	return 0
}

# cw_memif_run JSON SOCK ENTERPRISES RULES [gateway args]: clearway with a memif server port (0)
# and net_null (1), started in the background; sets CW_PID once its worker polls. The gateway
# args say where its tables come from (files or --redis).
cw_memif_run() {
	local json=$1 sock=$2 ent=$3 rules=$4; shift 4
	local cmd=("$B/clearway" -l "$GEN_CORE,$WORKER" $(eal_mem "$(mem_for "$ent" "$rules")") $EAL_QUIET
		--file-prefix "$TAG-cwm" --vdev "net_memif0,role=server,socket=$sock" --vdev net_null0
		-- --registry-capacity "$(reg_cap "$ent")" --tx-port 1 --summary-json "$json" "$@")
	cmdlog "${cmd[*]}"
	rm -f "$json"
	"${cmd[@]}" >"${json%.json}.out" 2>"${json%.json}.err" &
	CW_PID=$!
	PIDS+=("$CW_PID")
	local t=0
	while ! grep -q 'worker.*UDP port' "${json%.json}.err" 2>/dev/null; do
		kill -0 "$CW_PID" 2>/dev/null || { say "clearway (memif) exited early, see ${json%.json}.err"; return 1; }
		sleep 0.2; t=$((t + 1))
		[ "$t" -gt $((STEP_TIMEOUT * 5)) ] && { kill -INT "$CW_PID"; return 1; }
	done
	return 0
}

# cw_memif_start W JSON SOCK [extra args]: cw_memif_run on workload W's files.
cw_memif_start() {
	local w=$1 json=$2 sock=$3; shift 3
	cw_memif_run "$json" "$sock" "$(($(wc -l <"$w/registry.csv") - 1))" \
		"$(grep -c '^rule ' "$w/rules.cw")" --rules "$w/rules.cw" \
		--registry "$w/registry.csv" --senders "$w/senders.csv" "$@"
}

# load_rate PCT: PCT % of the highest rate measured over memif (else of the file run).
load_rate() {
	local max
	max=$(grep '^latency_max,msgs_per_s' "$OUT/metrics.csv" | cut -d, -f3)
	[ -z "$max" ] && max=$(grep '^clearway,msgs_per_s' "$OUT/metrics.csv" | cut -d, -f3)
	$PY calc "${max:-100000} * $1 / 100"
}

# pace_stop PID: PID is the subshell running pace(); its child is `timeout`, which passes SIGINT
# on to the generator (which then writes its report and waits, idle, for cw_stop).
pace_stop() {
	pkill -INT -P "$1" timeout 2>/dev/null
	wait "$1"
	sleep 0.5
}

# cw_stop: stops the gateway, then lets the generators that held their end of the memif link
# for it go (pace(); their pids are in $WORK/pace.pids).
cw_stop() {
	kill -INT "$CW_PID" 2>/dev/null
	wait "$CW_PID" 2>/dev/null
	local p t
	[ -s "$WORK/pace.pids" ] || return 0
	for p in $(cat "$WORK/pace.pids"); do
		for ((t = 0; t < 100; t++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill "$p" 2>/dev/null
	done
	: >"$WORK/pace.pids"
}

# pace SOCK RATE SECONDS JSON [capture]: the paced generator on GEN_CORE. PACE_HOLD=1 (the
# update runs) retries the frames the gateway's ring refuses instead of dropping them. Returns
# once the generator's report is written; the generator then keeps its end of the memif link,
# idle, until cw_stop has stopped the gateway (--until-down): DPDK 22.11's memif unmaps a link's
# memory when its peer goes, even under a gateway polling it (docs/operations.md "Ports").
pace() {
	local sock=$1 rate=$2 secs=$3 json=$4 cap=${5:-$MAIN/requests.pcap}
	local hold=()
	[ "${PACE_HOLD:-0}" = 1 ] && hold=(--hold)
	local cmd=(timeout -s INT $((STEP_TIMEOUT + ${secs%.*} + 60)) "$B/cwkbase" pace -l "$GEN_CORE" $(eal_mem 512) $EAL_QUIET
		--file-prefix "$TAG-pace" --vdev "net_memif0,role=client,socket=$sock"
		-- --in "$cap" --rate "$rate" --seconds "$secs" --json "$json" --wait 20 --until-down 60 "${hold[@]}")
	cmdlog "${cmd[*]}"
	# The memif link sometimes does not come up on the first connection under load: try again.
	local try pid
	rm -f "$json"
	for try in 1 2 3; do
		"${cmd[@]}" >>"$OUT/pace.log" 2>&1 &
		pid=$!
		# (plain shell tests: this script shares GEN_CORE with the generator)
		until [ -s "$json" ]; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		if [ -s "$json" ]; then
			echo "$pid" >>"$WORK/pace.pids"
			return 0
		fi
		wait "$pid"
		say "  pace: no memif link (attempt $try)"
	done
	return 1
}

j() { $PY get "$@"; } # j FILE KEY.PATH

# keep_best NAME RUN KEY BEST [suffix...]: lists run RUN (a JSON file) in repeats.csv by its KEY,
# and makes it BEST (with its sibling files of the given suffixes) when it is the fastest so far.
keep_best() {
	local name=$1 run=$2 key=$3 best=$4; shift 4
	[ -s "$run" ] || return 1
	local v old=0
	v=$(j "$run" "$key" 2>/dev/null)
	[ -n "$v" ] || return 1
	[ -s "$best" ] && old=$(j "$best" "$key")
	echo "$name,$(basename "$run"),$key,$v" >>"$OUT/repeats.csv"
	if $PY calc "1 if $v > $old else 0" | grep -q '^1'; then
		cp "$run" "$best"
		local sfx
		for sfx in "$@"; do [ -e "${run%.json}$sfx" ] && cp "${run%.json}$sfx" "${best%.json}$sfx"; done
	fi
	return 0
}

# ---------------------------------------------------------------- experiments

exp_ceiling() {
	say "(1) ceiling: dpdk-testpmd io forwarding, net_pcap -> net_null"
	local frames mbufs
	frames=$($PY frames "$MAIN/requests.pcap")
	mbufs=$((frames + 32768))
	echo "mode,cycles_per_pkt,pkts_per_s,tsc_mhz,rx_packets" >"$OUT/ceiling.csv"
	for mode in infinite file; do
		local vdev="net_pcap0,rx_pcap=$MAIN/requests.pcap" secs=8
		[ "$mode" = infinite ] && vdev="$vdev,infinite_rx=1"
		[ "$QUICK" = 1 ] && secs=4
		local cmd=(dpdk-testpmd -l "$GEN_CORE,$WORKER" $(eal_mem $((mbufs * 5 / 2 / 1024 + 512))) $EAL_QUIET
			--file-prefix "$TAG-tp" --vdev "$vdev" --vdev net_null0,no-rx=1
			-- --forward-mode=io --record-core-cycles --nb-cores=1 -a --no-flush-rx
			--stats-period 1 --total-num-mbufs="$mbufs")
		cmdlog "${cmd[*]} (best of $REPEAT)"
		rm -f "$OUT/testpmd-$mode.json"
		local r
		for r in $(seq "$REPEAT"); do
			$PY testpmd "$OUT/testpmd-$mode-run$r.log" "$secs" "$mode" "${cmd[@]}" >"$OUT/testpmd-$mode-run$r.json" ||
				say "testpmd ($mode) failed, see $OUT/testpmd-$mode-run$r.log"
			keep_best "ceiling_$mode" "$OUT/testpmd-$mode-run$r.json" pkts_per_s "$OUT/testpmd-$mode.json" .log
			rm -f "$OUT/testpmd-$mode-run$r".*
		done
		[ -s "$OUT/testpmd-$mode.json" ] &&
			$PY csvrow "$OUT/testpmd-$mode.json" "$mode" cycles_per_pkt pkts_per_s tsc_mhz rx_packets >>"$OUT/ceiling.csv"
	done
	[ -s "$OUT/testpmd-infinite.json" ] && {
		metric ceiling cycles_per_pkt "$(j "$OUT/testpmd-infinite.json" cycles_per_pkt)" cycles
		metric ceiling pkts_per_s "$(j "$OUT/testpmd-infinite.json" pkts_per_s)" pkts/s
		TSC_HZ=$(($(j "$OUT/testpmd-infinite.json" tsc_mhz) * 1000000))
	}
	[ -s "$OUT/testpmd-file.json" ] && {
		metric ceiling_file cycles_per_pkt "$(j "$OUT/testpmd-file.json" cycles_per_pkt)" cycles
		metric ceiling_file pkts_per_s "$(j "$OUT/testpmd-file.json" pkts_per_s)" pkts/s
	}
}

exp_clearway() {
	say "(2) clearway: capture in (net_pcap), answers to net_null, one worker"
	local r
	rm -f "$OUT/clearway.json"
	for r in $(seq "$REPEAT"); do
		cw_pcap "$MAIN" "$OUT/clearway-run$r.json" &&
			keep_best clearway "$OUT/clearway-run$r.json" msgs_per_s "$OUT/clearway.json" .out .err
		rm -f "$OUT/clearway-run$r".*
	done
	[ -s "$OUT/clearway.json" ] || return
	$PY clearway "$OUT/clearway.json" "$TSC_HZ" "$OUT" >"$OUT/clearway.csv"
	local frames
	frames=$($PY frames "$MAIN/requests.pcap")
	local ent=$(($(wc -l <"$MAIN/registry.csv") - 1))
	# The capture from memory (infinite_rx=1, the ceiling's own vdev), one pass: --max-packets
	# stops the gateway after the capture's frames, before anything is replayed.
	rm -f "$OUT/clearway-memory.json"
	for r in $(seq "$REPEAT"); do
		local mcmd=(timeout -s INT "$STEP_TIMEOUT" "$B/clearway" -l "$GEN_CORE,$WORKER"
			$(eal_mem $(($(mem_for "$ent" "$RULES") + frames * 5 / 2 / 1024))) $EAL_QUIET
			--file-prefix "$TAG-cwmem" --vdev "net_pcap0,rx_pcap=$MAIN/requests.pcap,infinite_rx=1"
			--vdev net_null0 -- --rules "$MAIN/rules.cw" --registry "$MAIN/registry.csv"
			--senders "$MAIN/senders.csv" --registry-capacity "$(reg_cap "$ent")" --tx-port 1
			--max-packets "$frames" --mbufs $((frames + 16384))
			--summary-json "$OUT/clearway-memory-run$r.json")
		[ "$r" = 1 ] && cmdlog "${mcmd[*]} (best of $REPEAT)"
		"${mcmd[@]}" >"$OUT/clearway-memory-run$r.out" 2>"$OUT/clearway-memory-run$r.err" &&
			keep_best clearway_memory "$OUT/clearway-memory-run$r.json" msgs_per_s \
				"$OUT/clearway-memory.json" .out .err
		rm -f "$OUT/clearway-memory-run$r".*
	done
	[ -s "$OUT/clearway-memory.json" ] &&
		$PY clearway "$OUT/clearway-memory.json" "$TSC_HZ" "$OUT" clearway_memory \
			>"$OUT/clearway-memory.csv"
	# The same vdev with infinite_rx=1 and no limit: after the first pass every message is a
	# replay (STALE or DUPLICATE, §3.5), so this measures the session/replay path, not decisions.
	local cmd=(timeout -s INT "$STEP_TIMEOUT" "$B/clearway" -l "$GEN_CORE,$WORKER"
		$(eal_mem $(($(mem_for "$ent" "$RULES") + frames * 5 / 2 / 1024))) $EAL_QUIET --file-prefix "$TAG-cwi"
		--vdev "net_pcap0,rx_pcap=$MAIN/requests.pcap,infinite_rx=1" --vdev net_null0
		-- --rules "$MAIN/rules.cw" --registry "$MAIN/registry.csv" --senders "$MAIN/senders.csv"
		--registry-capacity "$(reg_cap "$ent")" --tx-port 1 --summary-json "$OUT/clearway-replay.json"
		--mbufs $((frames + 16384)))
	cmdlog "${cmd[*]} (SIGINT 4 s after start of traffic)"
	"${cmd[@]}" >"$OUT/clearway-replay.out" 2>"$OUT/clearway-replay.err" &
	local pid=$!
	PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null && ! grep -q 'worker.*UDP port' "$OUT/clearway-replay.err"; do sleep 0.2; done
	sleep 4
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	[ -s "$OUT/clearway-replay.json" ] && metric clearway_replay msgs_per_s "$(j "$OUT/clearway-replay.json" msgs_per_s)" msgs/s
}

# kernel_run SERVE_JSON BLAST_JSON N: one run of the kernel-socket baseline (commands logged once).
kernel_run() {
	local sj=$1 bj=$2 n=$3
	local port=$((20000 + RANDOM % 20000)) ready=$WORK/kbase.ready
	rm -f "$ready"
	local scmd=(timeout "$STEP_TIMEOUT" "$B/cwkbase" serve --rules "$MAIN/rules.cw" --registry "$MAIN/registry.csv"
		--senders "$MAIN/senders.csv" --core "$WORKER" --port "$port" --json "$sj" --ready "$ready")
	[ -n "$HUGE_DIR" ] && scmd+=(--huge-dir "$HUGE_DIR")
	local bcmd=("$B/cwkbase" blast --in "$MAIN/requests.pcap" --core "$GEN_CORE" --port "$port" --json "$bj")
	if [ "$n" = 1 ]; then
		cmdlog "${scmd[*]} & (best of $REPEAT)"
		cmdlog "${bcmd[*]}"
	fi
	"${scmd[@]}" 2>"${sj%.json}.err" &
	local pid=$!
	PIDS+=("$pid")
	while [ ! -e "$ready" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
	[ -e "$ready" ] && "${bcmd[@]}" 2>"${bj%.json}.err"
	wait "$pid"
	[ -s "$sj" ] || say "kernel baseline run $n failed, see ${sj%.json}.err"
}

exp_kernel() {
	say "(3) kernel baseline: the engine behind recvmmsg/sendmmsg on CPU $WORKER, blaster on CPU $GEN_CORE"
	local r
	rm -f "$OUT/kernel-serve.json" "$OUT/kernel-blast.json"
	for r in $(seq "$REPEAT"); do
		kernel_run "$OUT/kernel-serve-run$r.json" "$OUT/kernel-blast-run$r.json" "$r"
		if keep_best kernel "$OUT/kernel-serve-run$r.json" msgs_per_s "$OUT/kernel-serve.json" .err; then
			cmp -s "$OUT/kernel-serve-run$r.json" "$OUT/kernel-serve.json" &&
				cp "$OUT/kernel-blast-run$r.json" "$OUT/kernel-blast.json" &&
				cp "$OUT/kernel-blast-run$r.err" "$OUT/kernel-blast.err"
		fi
		rm -f "$OUT/kernel-serve-run$r".* "$OUT/kernel-blast-run$r".*
	done
	[ -s "$OUT/kernel-serve.json" ] || { say "kernel baseline failed"; return; }
	$PY kernel "$OUT/kernel-serve.json" "$OUT/kernel-blast.json" >"$OUT/kernel.csv"
	metric kernel msgs_per_s "$(j "$OUT/kernel-serve.json" msgs_per_s)" msgs/s
	TSC_HZ=$(j "$OUT/kernel-serve.json" tsc_hz)
}

exp_latency() {
	say "(4) latency under offered load: cwkbase pace -> net_memif -> clearway"
	local sock=$WORK/memif-lat.sock
	echo "load_pct,offered_msgs_per_s,sent_msgs_per_s,answered_msgs_per_s,refused_frames,p50_us,p99_us,p999_us,max_us,mean_us,samples,msgs_per_datagram,in_full_bursts_pct" >"$OUT/latency.csv"
	# First the floor under any p99: how often the machine takes the worker's CPU away
	# (hypervisor exits, interrupts, kernel threads), measured by spinning on it idle.
	cmdlog "$B/cwkbase stalls --core $WORKER --seconds 5 --json stalls.json"
	if "$B/cwkbase" stalls --core "$WORKER" --seconds 5 --json "$OUT/stalls.json" >/dev/null; then
		local k
		for k in stalls_over_10us_per_s:per_s stalls_over_100us_per_s:per_s stalled_pct:% \
			wait_over_5us_pct:% max_us:us; do
			metric stalls "${k%%:*}" "$(j "$OUT/stalls.json" "${k%%:*}")" "${k#*:}"
		done
		note "worker CPU $WORKER, idle: $(j "$OUT/stalls.json" wait_over_5us_pct) % of instants wait over 5 us for the CPU ($(j "$OUT/stalls.json" stalls_over_10us_per_s) stalls over 10 us a second; cwkbase stalls). Above 1 %, a p99 RX->TX latency of 5 us is out of reach for any software on this machine."
	fi
	cw_memif_start "$MAIN" "$OUT/latency-max.json" "$sock" || return
	pace "$sock" 0 "$LAT_SECONDS" "$OUT/pace-max.json"
	cw_stop
	[ -s "$OUT/latency-max.json" ] || { say "latency: max run failed"; return; }
	local max
	max=$(j "$OUT/latency-max.json" msgs_per_s)
	[ "${max%.*}" -gt 0 ] 2>/dev/null || { note "latency: the unpaced run answered nothing; no latency points"; return; }
	metric latency_max msgs_per_s "$max" msgs/s
	$PY latrow 100 "$OUT/pace-max.json" "$OUT/latency-max.json" >>"$OUT/latency.csv"
	for pct in 10 50 90; do
		local rate
		rate=$($PY calc "$max * $pct / 100")
		cw_memif_start "$MAIN" "$OUT/latency-$pct.json" "$sock" || continue
		pace "$sock" "$rate" "$LAT_SECONDS" "$OUT/pace-$pct.json"
		cw_stop
		[ -s "$OUT/latency-$pct.json" ] || continue
		$PY latrow "$pct" "$OUT/pace-$pct.json" "$OUT/latency-$pct.json" >>"$OUT/latency.csv"
		for q in p50 p99 p999 max; do
			metric "latency$pct" "${q}_us" "$($PY calc "$(j "$OUT/latency-$pct.json" latency_ns.$q) / 1000")" us
		done
	done
}

exp_scaling() {
	say "(5) scaling: enterprises, rules, items per declaration, messages per datagram"
	local ents rules items batches
	if [ "$QUICK" = 1 ]; then
		ents="1000 1000000"; rules="100 1000"; items="1 10"; batches="1 16"
	else
		ents="1000 10000 100000 1000000 10000000"; rules="100 1000 10000 100000"
		items="1 3 10 25 50"; batches="1 2 4 8 16"
	fi
	echo "dimension,value,messages,msgs_per_s,cycles_per_msg,msgs_per_datagram,pkts_per_s,status" >"$OUT/scaling.csv"
	local base="--messages $SCALE_MESSAGES --profiles $PROFILES"
	local d v w flags
	for d in enterprises rules items batch; do
		case $d in
		enterprises) vals=$ents ;; rules) vals=$rules ;; items) vals=$items ;; batch) vals=$batches ;;
		esac
		for v in $vals; do
			case $d in
			enterprises) flags="--enterprises $v --rules $RULES" ;;
			rules) flags="--enterprises $ENTERPRISES --rules $v" ;;
			items) flags="--enterprises $ENTERPRISES --rules $RULES --items-mean $v" ;;
			batch) flags="--enterprises $ENTERPRISES --rules $RULES --batch $v" ;;
			esac
			w=$WORK/scale-$d-$v
			gen "$w" $base $flags || { echo "$d,$v,,,,,,cwgen failed" >>"$OUT/scaling.csv"; continue; }
			say "  $d = $v"
			if cw_pcap "$w" "$OUT/scale-$d-$v.json"; then
				$PY scalerow "$d" "$v" "$OUT/scale-$d-$v.json" "$TSC_HZ" >>"$OUT/scaling.csv"
			else
				echo "$d,$v,,,,,,failed or timed out (${STEP_TIMEOUT}s)" >>"$OUT/scaling.csv"
			fi
			rm -rf "$w"
		done
	done
}

# Three rules added (and the version bumped): what an urgent alert looks like.
make_delta() {
	sed "s/^version .*/version $2/" "$1" >"$3"
	cat >>"$3" <<'EOF'
rule 990001 mode verify reason "bench delta: alert 1" when hs 8471 and origin in (KR, JP)
rule 990002 mode sample reason "bench delta: alert 2" when hs 0306 and total_value >= 100000.00
rule 990003 mode supervise reason "bench delta: alert 3" when msg decl and hs 9305
EOF
}

# drop_rule FILE ID VERSION: FILE without rule ID's statement (its indented lines go with it).
drop_rule() {
	awk -v id="$2" '/^[^ \t]/ {skip = ($1 == "rule" && $2 == id)} !skip' "$1" |
		sed "s/^version .*/version $3/"
}

# hottest_rule: the rule that won the most items of the workload (cwctl simulate's top rule).
hottest_rule() {
	"$B/cwctl" simulate --rules "$MAIN/rules.cw" --registry "$MAIN/registry.csv" \
		--senders "$MAIN/senders.csv" --in "$MAIN/requests.pcap" --out /dev/null --json \
		>"$WORK/hot-sim.json" 2>/dev/null && j "$WORK/hot-sim.json" top_rules.0.rule
}

# live_workload DIR LIVE: DIR as the main workload whose rules.cw is the file LIVE, which the
# update runs replace before each SIGHUP (cw_memif_start reads DIR/rules.cw).
live_workload() {
	mkdir -p "$1"
	ln -sf "$MAIN/registry.csv" "$1/registry.csv"
	ln -sf "$MAIN/senders.csv" "$1/senders.csv"
	ln -sf "$2" "$1/rules.cw"
}

# sighup_steps ERR LIVE NAME:FILE...: installs each FILE as the gateway's rule file, sends SIGHUP,
# waits for its log line in ERR and records how long after the signal the rules were live
# (metric update_NAME, or update_max_NAME under UPDATE_PREFIX=update_max); 3 s between steps.
sighup_steps() {
	local err=$1 live=$2 t0 step name src n ms waited
	shift 2
	t0=$(date +%s.%N)
	for step in "$@"; do
		name=${step%%:*} src=${step#*:}
		cp "$src" "$live.new" && mv "$live.new" "$live"
		n=$(grep -c 'SIGHUP: rule set version' "$err")
		cmdlog "kill -HUP <clearway> after installing $name rules ($(grep -c '^rule ' "$live") rules)"
		kill -HUP "$CW_PID"
		waited=0
		while [ "$(grep -c 'SIGHUP: rule set version' "$err")" -le "$n" ] && [ "$waited" -lt $((STEP_TIMEOUT * 5)) ]; do
			sleep 0.2; waited=$((waited + 1))
		done
		ms=$(grep 'SIGHUP: rule set version' "$err" | tail -1 | sed 's/.* after \([0-9.]*\) ms.*/\1/')
		echo "$name,$ms,$($PY calc "$(date +%s.%N) - $t0")" >>"${err%.err}.csv"
		metric "${UPDATE_PREFIX:-update}_$name" live_ms "$ms" ms
		sleep 3
	done
}

exp_updates() {
	say "(6) updates under load: SIGHUP reloads (3-rule delta, full $RULES-rule rebuild) at 50 % load"
	local sock=$WORK/memif-upd.sock live=$WORK/live.cw
	cp "$MAIN/rules.cw" "$live"
	make_delta "$MAIN/rules.cw" 2 "$WORK/delta.cw"
	gen "$WORK/other" --messages 1000 --enterprises 1000 --rules "$RULES" --profiles "$PROFILES" --version 3 --seed $((SEED + 1))
	local w=$WORK/upd
	live_workload "$w" "$live"
	if cw_memif_start "$w" "$OUT/updates.json" "$sock" --stats 1; then
		PACE_HOLD=1 pace "$sock" "$(load_rate 50)" 100000 "$OUT/pace-updates.json" &
		local ppid=$!
		PIDS+=("$ppid")
		sleep 3
		echo "step,live_ms,at_s" >"$OUT/updates.csv"
		sighup_steps "$OUT/updates.err" "$live" "delta:$WORK/delta.cw" "full:$WORK/other/rules.cw"
		pace_stop "$ppid"
		cw_stop
		$PY updates "$OUT/updates.json" "$OUT/pace-updates.json" "$OUT/updates.err" "$OUT" >>"$OUT/metrics.csv"
	fi
	exp_updates_max
	exp_updates_redis
}

# (6c) The same swaps with the worker at full load: the generator sends as fast as the gateway
# takes (--rate 0, refused frames retried), so each second's answered rate is the gateway's
# capacity while the generator keeps ahead, and its busy cycles per message are its capacity in
# any case. Besides the 3-rule delta and the full rebuild, a delta that removes the hottest rule
# (the items it won need the delta's fallback until the fold, docs/engine.md).
exp_updates_max() {
	say "(6c) rule swaps at full load: 3-rule delta, the hottest rule removed, full rebuild"
	local sock=$WORK/memif-max.sock live=$WORK/live-max.cw hot
	hot=$(hottest_rule)
	[ -n "$hot" ] || { note "updates at full load: no rule won any item; skipped"; return; }
	cp "$MAIN/rules.cw" "$live"
	make_delta "$MAIN/rules.cw" 2 "$WORK/max-delta.cw"
	drop_rule "$WORK/max-delta.cw" "$hot" 4 >"$WORK/max-hot.cw"
	sed "s/^version .*/version 5/" "$WORK/other/rules.cw" >"$WORK/max-full.cw"
	local w=$WORK/updmax
	live_workload "$w" "$live"
	cw_memif_start "$w" "$OUT/updates-max.json" "$sock" --stats 1 || return
	pace "$sock" 0 100000 "$OUT/pace-updates-max.json" &
	local ppid=$!
	PIDS+=("$ppid")
	sleep 3
	echo "step,live_ms,at_s" >"$OUT/updates-max.csv"
	UPDATE_PREFIX=update_max sighup_steps "$OUT/updates-max.err" "$live" "delta:$WORK/max-delta.cw" \
		"hot_delta:$WORK/max-hot.cw" "full:$WORK/max-full.cw"
	note "updates at full load: the hot delta removes rule $hot, the rule that won the most items"
	pace_stop "$ppid"
	cw_stop
	mkdir -p "$WORK/maxout"
	$PY updates "$OUT/updates-max.json" "$OUT/pace-updates-max.json" "$OUT/updates-max.err" \
		"$WORK/maxout" | sed 's/^updates,/updates_max,/' >>"$OUT/metrics.csv"
	cp "$WORK/maxout/updates-rates.csv" "$OUT/updates-max-rates.csv" 2>/dev/null
}

# The same with Redis (DESIGN §6): the gateway follows cw:events while the paced generator offers
# 90 % of the memif maximum; a churn of 10 000 registry events, then a 3-rule delta and a
# different full rule set activated with cwctl. Activation times are the gateway's own log line
# ("rule set vN active (... T ms since the read began, E ms after its event)": live_ms is E,
# since_read_ms T); registry churn is timed from the first
# write until the node reports the stream's last entry as applied (its heartbeat is about once a
# second, so that figure is an upper bound).
exp_updates_redis() {
	local help
	help=$("$B/clearway" --no-huge --no-shconf --no-pci -m 64 --file-prefix "$TAG-h" --log-level=lib.*:error -- --help 2>&1)
	if ! grep -q -- '--redis' <<<"$help"; then
		note "updates (Redis): skipped, build/clearway -- --help does not list --redis"
		return
	fi
	command -v redis-server >/dev/null || { note "updates (Redis): skipped, no redis-server"; return; }
	say "(6b) updates under load through Redis: registry churn, 3-rule delta, full rebuild at 90 % load"
	local rs=$WORK/redis.sock rdir=$WORK/redis sock=$WORK/memif-rds.sock
	mkdir -p "$rdir"
	# On the generator's CPU: left to the scheduler, redis-server (busy with the journal's
	# XADDs) lands on the worker's CPU, the only one not busy-polling, and takes a third of it.
	# At the generator's priority: at the control threads' (nice -10) it took CPU 0 from the
	# generator, whose backlog then overflowed the memif ring (at 90 % load the journal alone
	# keeps Redis busy): that run answered a fifth of the offered rate (docs/benchmarks.md).
	taskset -c "$GEN_CORE" redis-server --port 0 --unixsocket "$rs" --save '' --appendonly no --dir "$rdir" \
		>"$OUT/redis-server.log" 2>&1 &
	local rpid=$!
	PIDS+=("$rpid")
	local t=0
	while ! redis-cli -s "$rs" ping >/dev/null 2>&1; do
		sleep 0.1; t=$((t + 1)); [ "$t" -gt 100 ] && { note "updates (Redis): redis-server did not start"; return; }
	done
	export CW_REDIS="unix:$rs"
	local C=$B/cwctl
	cmdlog "CW_REDIS=unix:$rs $C ent import registry.csv; sender set ...; push rules.cw --activate"
	"$C" ent import "$MAIN/registry.csv" >"$OUT/redis-load.log" 2>&1 &&
	tail -n +2 "$MAIN/senders.csv" | while IFS=, read -r id prefixes name; do
		"$C" sender set "$id" "$prefixes" "$name" >>"$OUT/redis-load.log" 2>&1 || exit 1
	done &&
	"$C" push "$MAIN/rules.cw" --activate >>"$OUT/redis-load.log" 2>&1 ||
		{ note "updates (Redis): loading Redis failed, see redis-load.log"; kill "$rpid"; return; }
	cw_memif_run "$OUT/updates-redis.json" "$sock" "$(($(wc -l <"$MAIN/registry.csv") - 1))" \
		"$RULES" --redis "unix:$rs" --node bench --stats 1 ||
		{ note "updates (Redis): clearway did not start, see updates-redis.err"; kill "$rpid"; return; }
	PACE_HOLD=1 pace "$sock" "$(load_rate 90)" 100000 "$OUT/pace-updates-redis.json" &
	local ppid=$!
	PIDS+=("$ppid")
	sleep 3
	# registry churn: 10 000 enterprises change class, one event each (cwctl writes them in
	# transactions of 256)
	awk -F, 'NR > 1 && NR <= 10001 { c = ($2 == "good") ? "warning" : "good"; print $1 "," c }' \
		"$MAIN/registry.csv" | sed '1i uscc,class' >"$WORK/churn.csv"
	local t0 t1 t2 last
	t0=$(date +%s.%N)
	"$C" ent import "$WORK/churn.csv" >>"$OUT/redis-load.log" 2>&1
	t1=$(date +%s.%N)
	last=$(redis-cli -s "$rs" XREVRANGE cw:events + - COUNT 1 | head -1)
	t=0
	while [ "$(redis-cli -s "$rs" HGET cw:node:bench last_event)" != "$last" ] && [ "$t" -lt 300 ]; do
		sleep 0.05; t=$((t + 1))
	done
	t2=$(date +%s.%N)
	metric updates_redis churn_events 10000 events
	metric updates_redis churn_written_per_s "$($PY calc "10000 / ($t1 - $t0)")" events/s
	metric updates_redis churn_all_applied_s "$($PY calc "$t2 - $t0")" s
	sleep 2
	# rule-set swaps: a 3-rule delta (version 1002), then a different full set (version 1003)
	make_delta "$MAIN/rules.cw" 1002 "$WORK/rdelta.cw"
	sed "s/^version .*/version 1003/" "$WORK/other/rules.cw" >"$WORK/rfull.cw"
	local step v ms line
	for step in delta full; do
		[ "$step" = delta ] && v=1002 || v=1003
		# pushed first, then activated (docs/control-plane.md: the way to make an urgent
		# change): the event is the activation, and the push's own traffic is over by then
		"$C" push "$WORK/r$step.cw" >>"$OUT/redis-load.log" 2>&1
		sleep 1
		"$C" activate "$v" >>"$OUT/redis-load.log" 2>&1
		t=0
		while ! grep -q "rule set v$v active" "$OUT/updates-redis.err" && [ "$t" -lt $((STEP_TIMEOUT * 5)) ]; do
			sleep 0.2; t=$((t + 1))
		done
		line=$(grep "rule set v$v active" "$OUT/updates-redis.err" | tail -1)
		ms=$(sed -n 's/.*, \([0-9.]*\) ms after its event.*/\1/p' <<<"$line")
		metric "update_redis_$step" live_ms "${ms:-nan}" ms
		ms=$(sed -n 's/.*, \([0-9.]*\) ms since the read began.*/\1/p' <<<"$line")
		metric "update_redis_$step" since_read_ms "${ms:-nan}" ms
		sleep 3
	done
	pace_stop "$ppid"
	cw_stop
	kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
	unset CW_REDIS
	mkdir -p "$WORK/rout"
	$PY updates "$OUT/updates-redis.json" "$OUT/pace-updates-redis.json" "$OUT/updates-redis.err" \
		"$WORK/rout" | sed 's/^updates,/updates_redis,/' >>"$OUT/metrics.csv"
	cp "$WORK/rout/updates-rates.csv" "$OUT/updates-redis-rates.csv" 2>/dev/null
}

exp_simulate() {
	say "(7) cwctl simulate on the same traffic"
	local cmd=(timeout "$STEP_TIMEOUT" "$B/cwctl" simulate --rules "$MAIN/rules.cw" --registry "$MAIN/registry.csv"
		--senders "$MAIN/senders.csv" --in "$MAIN/requests.pcap" --out /dev/null --json)
	[ -n "$HUGE_DIR" ] && cmd+=(--huge) # the pages this run reserved
	cmdlog "taskset -c $WORKER ${cmd[*]} (best of $REPEAT)"
	local r
	rm -f "$OUT/simulate.json"
	for r in $(seq "$REPEAT"); do
		taskset -c "$WORKER" "${cmd[@]}" >"$OUT/simulate-run$r.json" 2>"$OUT/simulate-run$r.err" || say "simulate run $r failed"
		keep_best simulate "$OUT/simulate-run$r.json" msgs_per_s "$OUT/simulate.json" .err
		rm -f "$OUT/simulate-run$r".*
	done
	[ -s "$OUT/simulate.json" ] || { say "simulate failed"; return; }
	echo "messages,seconds,msgs_per_s" >"$OUT/simulate.csv"
	echo "$(j "$OUT/simulate.json" messages),$(j "$OUT/simulate.json" seconds),$(j "$OUT/simulate.json" msgs_per_s)" >>"$OUT/simulate.csv"
	metric simulate msgs_per_s "$(j "$OUT/simulate.json" msgs_per_s)" msgs/s
	# The same through the delta a gateway runs between a small change and its fold, when the
	# change removes the rule that wins the most items (docs/engine.md: those items need the
	# delta's fallback): its runs alternate with plain runs of the same new text.
	local hot
	hot=$(hottest_rule)
	[ -n "$hot" ] || return
	drop_rule "$MAIN/rules.cw" "$hot" 7 >"$WORK/sim-hot.cw"
	local hcmd=("${cmd[@]}")
	hcmd[5]=$WORK/sim-hot.cw # after --rules
	cmdlog "taskset -c $WORKER ${hcmd[*]} [--delta-from $MAIN/rules.cw] (rule $hot removed; best of $REPEAT each, alternating)"
	rm -f "$OUT/simulate-hot-full.json" "$OUT/simulate-hot-delta.json"
	for r in $(seq "$REPEAT"); do
		taskset -c "$WORKER" "${hcmd[@]}" >"$WORK/shf$r.json" 2>/dev/null &&
			keep_best simulate_hot_full "$WORK/shf$r.json" msgs_per_s "$OUT/simulate-hot-full.json"
		taskset -c "$WORKER" "${hcmd[@]}" --delta-from "$MAIN/rules.cw" >"$WORK/shd$r.json" 2>/dev/null &&
			keep_best simulate_hot_delta "$WORK/shd$r.json" msgs_per_s "$OUT/simulate-hot-delta.json"
	done
	[ -s "$OUT/simulate-hot-full.json" ] && [ -s "$OUT/simulate-hot-delta.json" ] || return
	metric simulate_hot_full msgs_per_s "$(j "$OUT/simulate-hot-full.json" msgs_per_s)" msgs/s
	metric simulate_hot_delta msgs_per_s "$(j "$OUT/simulate-hot-delta.json" msgs_per_s)" msgs/s
	note "simulate_hot_*: rule $hot (the one that wins the most items) removed, decided as a full build and as a delta on the workload's rules"
}

# ---------------------------------------------------------------- main

for p in cwgen clearway cwctl cwkbase; do
	[ -x "$B/$p" ] || { echo "bench: $B/$p missing; run make first" >&2; exit 3; }
done
command -v dpdk-testpmd >/dev/null || note "dpdk-testpmd not found: no ceiling"
T0=$(date +%s)
say "results in $OUT (QUICK=$QUICK), scratch $WORK"
reserve_huge
TSC_HZ=$($PY tschz)
{
	echo "quick=$QUICK"; echo "messages=$MESSAGES"; echo "enterprises=$ENTERPRISES"; echo "rules=$RULES"
	echo "profiles=$PROFILES"; echo "seed=$SEED"; echo "worker=$WORKER"; echo "gen_core=$GEN_CORE"
	echo "memory=$MEMMODE"; echo "repeat=$REPEAT"; echo "started=$STAMP"
} >"$OUT/config.txt"
$PY machine >"$OUT/machine.txt"
say "workload: cwgen $main_flags"
gen "$MAIN" $main_flags || exit 1
cp "$MAIN.gen.log" "$OUT/cwgen.log"
for e in ceiling clearway kernel latency scaling updates simulate; do
	want "$e" || continue
	"exp_$e"
done
echo "elapsed=$(($(date +%s) - T0))" >>"$OUT/config.txt"
echo "tsc_hz=$TSC_HZ" >>"$OUT/machine.txt"
$PY report "$OUT" "$ROOT/bench/lib/plots.gp"
if [ "${LATEST:-1}" = 1 ]; then
	rm -rf "$ROOT/bench/results/latest"
	mkdir -p "$ROOT/bench/results/latest"
	cp -r "$OUT"/. "$ROOT/bench/results/latest/"
fi
say "done in $(($(date +%s) - T0)) s: $OUT/report.md"
