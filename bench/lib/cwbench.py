#!/usr/bin/env python3
"""cwbench.py - the parsing and reporting half of bench/run.sh.

Why this file exists: the shell script runs the programs; this reads what they print (testpmd's
statistics, clearway's --summary-json, cwkbase's JSON), turns it into CSV rows and metrics, and
writes summary.csv, report.md and the gnuplot plots. Python only because parsing testpmd's screen
output and JSON in bash would be fragile; nothing of the product depends on it.

Usage: cwbench.py COMMAND ARGS (see the functions below; bench/run.sh is the only caller).
"""
import csv
import json
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import time


def get(path, key):
    v = json.load(open(path))
    for k in key.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    return v


def cmd_get(path, key):
    v = get(path, key)
    print(f"{v:.6g}" if isinstance(v, float) else v)


def cmd_calc(expr):
    print(f"{eval(expr, {'__builtins__': {}}):.6g}")


def cmd_frames(path):
    """Frames in a classic pcap file (the 16-byte record headers give each length)."""
    n = 0
    with open(path, "rb") as f:
        hdr = f.read(24)
        endian = "<" if hdr[:4] == b"\xd4\xc3\xb2\xa1" else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            incl = struct.unpack(endian + "IIII", rec)[2]
            f.seek(incl, 1)
            n += 1
    print(n)


def cmd_tschz():
    """TSC rate before any DPDK program told us: the CPU's nominal MHz (constant_tsc)."""
    mhz = 0.0
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            mhz = float(line.split(":")[1])
            break
    print(int(round(mhz)) * 1000000)


def cmd_machine():
    model, flags = "?", ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and model == "?":
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = line
    simd = [f for f in ("avx2", "avx512f") if f" {f}" in flags]
    dpdk = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True)
    mem = open("/proc/meminfo").readline().split()[1]
    print(f"cpu={model}")
    print(f"cpus={os.cpu_count()}")
    print(f"simd={' '.join(simd) or 'none'}")
    print(f"kernel={platform.release()}")
    print(f"memory_mb={int(mem) // 1024}")
    print(f"dpdk={dpdk.stdout.strip() or '?'}")
    print(f"load={' '.join(open('/proc/loadavg').read().split()[:3])}")


def cmd_testpmd(log, seconds, mode, *argv):
    """Runs testpmd non-interactively: waits for forwarding, lets it run `seconds` (a file
    capture: until its RX rate falls back to 0), stops it with SIGINT, parses the result."""
    seconds = float(seconds)
    out = open(log, "w")
    p = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pps, port, started, seen_rx, t_start = [], None, None, False, time.time()
    for line in p.stdout:
        out.write(line)
        m = re.search(r"NIC statistics for port (\d+)", line)
        if m:
            port = int(m.group(1))
        m = re.search(r"Rx-pps:\s+(\d+)", line)
        if m and port == 0:
            v = int(m.group(1))
            if v:
                seen_rx = True
                started = started or time.time()
                pps.append(v)
            done = started and time.time() - started >= seconds
            if done or (mode == "file" and seen_rx and v == 0):
                p.send_signal(signal.SIGINT)
                break
        if time.time() - t_start > 300:
            p.send_signal(signal.SIGINT)
            break
    rest = p.communicate(timeout=120)[0]
    out.write(rest)
    out.close()
    text = open(log).read()
    m = re.search(r"CPU cycles/packet=([\d.]+) .*total \w+ packets=(\d+)\) at (\d+) MHz", text)
    if not m:
        sys.exit(1)
    cyc, rx, mhz = float(m.group(1)), int(m.group(2)), int(m.group(3))
    # The first second's sample includes the start; file mode: the busy-cycle rate.
    steady = pps[1:] if len(pps) > 2 else pps
    rate = sum(steady) / len(steady) if (mode == "infinite" and steady) else mhz * 1e6 / cyc
    print(json.dumps({"cycles_per_pkt": cyc, "pkts_per_s": round(rate), "tsc_mhz": mhz,
                      "rx_packets": rx, "pps_samples": pps}))


def cmd_csvrow(path, first, *keys):
    d = json.load(open(path))
    print(",".join([first] + [str(d[k]) for k in keys]))


def cmd_clearway(path, tsc_hz, out, name="clearway"):
    """clearway.csv (one row) and the metrics of experiment `name`, appended to metrics.csv."""
    d = json.load(open(path))
    tsc = float(tsc_hz)
    mps = d["msgs_per_s"]
    pps = d["rx_packets"] / d["active_s"] if d["active_s"] else 0
    cpm = tsc / mps if mps else 0
    print("messages,rx_packets,active_s,msgs_per_s,pkts_per_s,cycles_per_msg,cycles_per_pkt,"
          "msgs_per_datagram,accounting_ok")
    print(f"{d['messages']},{d['rx_packets']},{d['active_s']},{mps},{pps:.0f},{cpm:.1f},"
          f"{tsc / pps if pps else 0:.1f},{d['messages'] / max(d['rx_packets'], 1):.2f},"
          f"{d['accounting_ok']}")
    with open(os.path.join(out, "metrics.csv"), "a") as m:
        m.write(f"{name},msgs_per_s,{mps:.0f},msgs/s\n")
        m.write(f"{name},cycles_per_msg,{cpm:.1f},cycles\n")
        m.write(f"{name},pkts_per_s,{pps:.0f},pkts/s\n")
        m.write(f"{name},cycles_per_pkt,{tsc / pps if pps else 0:.1f},cycles\n")
        m.write(f"{name},latency_p99_us,{d['latency_ns']['p99'] / 1000:.1f},us\n")


def cmd_kernel(serve, blast):
    s, b = json.load(open(serve)), json.load(open(blast))
    print("messages,active_s,msgs_per_s,blaster_msgs_per_s,unanswered,send_errors,tsc_hz")
    print(f"{s['messages']},{s['active_s']},{s['msgs_per_s']},{b['msgs_per_s']},"
          f"{b['unanswered']},{s['send_errors']},{s['tsc_hz']}")


def cmd_latrow(pct, pace, cw):
    p, c = json.load(open(pace)), json.load(open(cw))
    lat = c["latency_ns"]
    print(f"{pct},{p['rate']},{p['msgs_per_s']:.0f},{c['msgs_per_s']:.0f},{p['refused_frames']},"
          f"{lat['p50'] / 1e3:.2f},{lat['p99'] / 1e3:.2f},{lat['p999'] / 1e3:.2f},"
          f"{lat['max'] / 1e3:.2f},{lat['mean'] / 1e3:.2f},{lat['samples']},"
          f"{c['messages'] / max(c['rx_packets'], 1):.2f},"
          f"{100 * 32 * c.get('rx_full_bursts', 0) / max(c['rx_packets'], 1):.2f}")


def cmd_scalerow(dim, value, path, tsc_hz):
    d = json.load(open(path))
    mps = d["msgs_per_s"]
    pps = d["rx_packets"] / d["active_s"] if d["active_s"] else 0
    ok = "ok" if d["accounting_ok"] else "accounting mismatch"
    print(f"{dim},{value},{d['messages']},{mps:.0f},{float(tsc_hz) / mps if mps else 0:.1f},"
          f"{d['messages'] / max(d['rx_packets'], 1):.2f},{pps:.0f},{ok}")


def cmd_updates(cw, pace, err, out):
    """Loss and throughput dip of the reload run; prints metric lines for metrics.csv."""
    c, p = json.load(open(cw)), json.load(open(pace))
    dropped = sum(c["drops"].values())
    lost_gw = c["rx_packets"] - c["answered_datagrams"] - dropped + c["drops"]["tx"]
    lost_link = p["frames"] - c["rx_packets"]
    # per second: the answered rate, and the worker's own cycles per message (busy cycles over
    # the messages it decided: what it could take at full load, whatever it was offered)
    # and the packets per RX burst, which the cost per message depends on (bigger is cheaper)
    found = [(float(m.group(1)), float(m.group(2) or 0), float(m.group(3) or 0))
             for m in re.finditer(r"clearway: pkts \d+ msgs \d+ \((\d+) msgs/s\).*?"
                                  r"(?:cycles/msg (\d+))?(?: pkts/burst ([\d.]+))?$",
                                  open(err).read(), re.M)]
    seconds = [(r, cyc) for r, cyc, _ in found]
    rates = [r for r, _ in seconds]
    busy = [x for x in seconds if x[0] > 0]
    inner = busy[1:-1] if len(busy) > 3 else busy  # first and last seconds are partial
    with open(os.path.join(out, "updates-rates.csv"), "w") as f:
        f.write("second,msgs_per_s,cycles_per_msg,pkts_per_burst\n")
        for i, (r, cyc, ppb) in enumerate(found):
            f.write(f"{i + 1},{r:.0f},{cyc:.0f},{ppb:.1f}\n")
    def median(v):
        return sorted(v)[len(v) // 2] if v else 0
    med = median([r for r, _ in inner])
    dip = 100.0 * (1 - min(r for r, _ in inner) / med) if inner and med else 0
    cycles = [cyc for _, cyc in inner if cyc > 0]
    med_cyc = median(cycles)
    # how far behind its schedule the generator fell (its CPU taken away: it then sends what
    # came due all at once; without --hold the port refuses what does not fit its ring)
    late = [float(x) for x in p.get("late_ms_per_s", [])]
    print(f"updates,lost_in_gateway,{lost_gw},datagrams")
    print(f"updates,lost_between_generator_and_gateway,{lost_link},frames")
    print(f"updates,refused_by_port,{p['refused_frames']},frames")
    # with --hold, frames the ring refused are sent as soon as it takes them: counted here
    print(f"updates,deferred_by_port,{p.get('deferred_frames', 0)},frames")
    print(f"updates,accounting_ok,{1 if c['accounting_ok'] else 0},bool")
    print(f"updates,offered_msgs_per_s,{p['rate']:.0f},msgs/s")
    print(f"updates,median_msgs_per_s,{med:.0f},msgs/s")
    print(f"updates,worst_second_dip_pct,{dip:.1f},%")
    # over the same seconds, what was answered against what the pace asked for: a dip that the
    # next second makes up (a late generator catching up) is no lost throughput
    mean = sum(r for r, _ in inner) / len(inner) if inner else 0
    if p["rate"]:
        print(f"updates,answered_vs_offered_pct,{100.0 * mean / p['rate']:.1f},%")
    print(f"updates,generator_max_late_ms,{max(late) if late else 0:.1f},ms")
    if med_cyc:
        # the worker's capacity in its worst second against the median second: the gateway's
        # own dip, which a starved generator does not make deeper
        print(f"updates,median_cycles_per_msg,{med_cyc:.0f},cycles")
        print(f"updates,worst_second_capacity_dip_pct,{100.0 * (1 - med_cyc / max(cycles)):.1f},%")


# ---------------------------------------------------------------- report

def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.reader(f))


def md_table(rows):
    if not rows:
        return "_(no data)_\n"
    s = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    for r in rows[1:]:
        s += "| " + " | ".join(r) + " |\n"
    return s


def summary_rows(out):
    rows = [r for r in read_csv(os.path.join(out, "metrics.csv")) if len(r) == 4]
    val = {(r[0], r[1]): float(r[2]) for r in rows if re.match(r"^-?[\d.e+]+$", r[2])}

    def ratio(name, a, b):
        if a in val and b in val and val[b]:
            rows.append(["ratio", name, f"{val[a] / val[b]:.3f}", "x"])

    ratio("clearway_vs_ceiling_pkts", ("clearway", "pkts_per_s"), ("ceiling", "pkts_per_s"))
    ratio("clearway_vs_ceiling_file_pkts", ("clearway", "pkts_per_s"),
          ("ceiling_file", "pkts_per_s"))
    ratio("clearway_memory_vs_ceiling_pkts", ("clearway_memory", "pkts_per_s"),
          ("ceiling", "pkts_per_s"))
    ratio("clearway_vs_kernel", ("clearway", "msgs_per_s"), ("kernel", "msgs_per_s"))
    ratio("clearway_memory_vs_kernel", ("clearway_memory", "msgs_per_s"), ("kernel", "msgs_per_s"))
    ratio("simulate_vs_clearway", ("simulate", "msgs_per_s"), ("clearway", "msgs_per_s"))
    ratio("simulate_hot_delta_vs_full", ("simulate_hot_delta", "msgs_per_s"),
          ("simulate_hot_full", "msgs_per_s"))
    ratio("clearway_cycles_per_msg_vs_ceiling_cycles_per_pkt", ("clearway", "cycles_per_msg"),
          ("ceiling", "cycles_per_pkt"))
    return rows


def plots(out, gp):
    if not shutil.which("gnuplot"):
        return "gnuplot not found: no plots\n"
    made = []
    lat = read_csv(os.path.join(out, "latency.csv"))
    if len(lat) > 1:
        with open(os.path.join(out, "latency.dat"), "w") as f:
            for r in lat[1:]:
                f.write(" ".join(r[i] for i in (0, 3, 5, 6, 7)) + "\n")
        made.append("latency")
    sc = read_csv(os.path.join(out, "scaling.csv"))
    for dim in ("enterprises", "rules", "items", "batch"):
        pts = [r for r in sc[1:] if r[0] == dim and r[3]]
        if pts:
            with open(os.path.join(out, f"scaling-{dim}.dat"), "w") as f:
                for r in pts:
                    f.write(f"{r[1]} {r[3]} {r[4]}\n")
            made.append(dim)
    if not made:
        return ""
    r = subprocess.run(["gnuplot", "-e", f"dir='{out}'", gp], capture_output=True, text=True)
    if r.returncode:
        return f"gnuplot failed: {r.stderr.strip()[:300]}\n"
    s = ""
    for name, title in (("latency", "Latency (RX to TX) under offered load"),
                        ("scaling", "Scaling")):
        if os.path.exists(os.path.join(out, f"{name}.png")):
            s += f"![{title}]({name}.png)\n\n"
    return s


def cmd_report(out, gp):
    rows = summary_rows(out)
    with open(os.path.join(out, "summary.csv"), "w") as f:
        f.write("experiment,metric,value,unit\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    kv = lambda p: dict(l.strip().split("=", 1) for l in open(p) if "=" in l)
    mach, cfg = kv(os.path.join(out, "machine.txt")), kv(os.path.join(out, "config.txt"))
    notes = open(os.path.join(out, "notes.txt")).read().strip()
    cmds = open(os.path.join(out, "commands.txt")).read() if os.path.exists(
        os.path.join(out, "commands.txt")) else ""
    quick = cfg.get("quick") == "1"
    r = [f"# Clearway benchmark {cfg.get('started', '')}" + (" (QUICK run)" if quick else ""), ""]
    if quick:
        r += ["QUICK run: fewer messages, fewer rules and fewer scaling points than DESIGN §8's "
              "conditions; for validating the harness, not for quoting.", ""]
    r += ["## Machine and conditions", "",
          f"- CPU: {mach.get('cpu')}, {mach.get('cpus')} CPUs, {mach.get('simd')}, "
          f"TSC {float(mach.get('tsc_hz', 0) or 0) / 1e6:.0f} MHz" if mach.get("tsc_hz") else
          f"- CPU: {mach.get('cpu')}, {mach.get('cpus')} CPUs, {mach.get('simd')}",
          f"- DPDK {mach.get('dpdk')}, kernel {mach.get('kernel')}, {mach.get('memory_mb')} MB RAM, "
          f"load average at start {mach.get('load')}",
          f"- memory: {cfg.get('memory')}",
          f"- worker CPU {cfg.get('worker')}, generator/main CPU {cfg.get('gen_core')}",
          f"- workload: cwgen seed {cfg.get('seed')}, {cfg.get('messages')} messages, "
          f"{cfg.get('enterprises')} enterprises, {cfg.get('rules')} rules, "
          f"{cfg.get('profiles')} profiles",
          f"- throughput experiments (ceiling, clearway, kernel, simulate): the fastest of "
          f"{cfg.get('repeat', '1')} runs each, every run in repeats.csv",
          f"- elapsed: {cfg.get('elapsed', '?')} s", ""]
    if notes:
        r += ["## Notes", ""] + [f"- {n}" for n in notes.splitlines()] + [""]
    r += ["## Summary", "", md_table([["experiment", "metric", "value", "unit"]] + rows), ""]
    for name, title in (("ceiling", "(1) Ceiling: testpmd io forwarding"),
                        ("clearway", "(2) Clearway, one worker"),
                        ("kernel", "(3) Kernel-socket baseline"),
                        ("latency", "(4) Latency under offered load (µs, RX→TX)"),
                        ("scaling", "(5) Scaling"),
                        ("updates", "(6) Rule updates under load (SIGHUP)"),
                        ("updates-rates", "(6) Throughput per second during the updates run"),
                        ("updates-redis-rates",
                         "(6b) Throughput per second during the Redis updates run (the rest "
                         "of 6b is in the summary: updates_redis, update_redis_*)"),
                        ("updates-max", "(6c) Rule swaps at full load (SIGHUP)"),
                        ("updates-max-rates",
                         "(6c) Throughput and the worker's cycles per message, per second, at "
                         "full load (the rest of 6c is in the summary: updates_max, "
                         "update_max_*)"),
                        ("simulate", "(7) cwctl simulate")):
        t = read_csv(os.path.join(out, f"{name}.csv"))
        if t:
            r += [f"## {title}", "", md_table(t), ""]
    r += ["## Plots", "", plots(out, gp), "## Commands", "", "```", cmds.rstrip(), "```", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(r))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    fn = globals().get("cmd_" + sys.argv[1])
    if not fn:
        sys.exit(f"cwbench.py: unknown command {sys.argv[1]}")
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
