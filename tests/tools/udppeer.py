#!/usr/bin/env python3
"""udppeer.py - a CWP/1 sender on a kernel UDP socket, for the AF_XDP test.

Why this file exists: tests/integration/dataplane_afxdp.sh puts the gateway on one end of a veth
pair (net_af_xdp) and needs a real sender on the other end, inside a network namespace: one that
sends a cwgen workload's datagrams through the kernel's UDP stack and collects the answers, plus
the few helpers around it (the same requests rewritten to the namespace's addresses so that
`cwctl simulate` sees what the gateway saw, a senders file that admits the namespace's address,
an ICMP echo to show the host still answers). Standard library only.

  udppeer.py rewrite IN.pcap OUT.pcap SRC_IP DST_IP SPORT DPORT MTU
        IPv4 CWP frames (no VLAN tag) with new addresses and ports, checksums recomputed, and
        fragmented as the kernel does on a link of MTU; prints the number of frames
  udppeer.py senders IN.csv OUT.csv PREFIX
        every sender also admits PREFIX
  udppeer.py txcsum-off IFACE
        TX checksum offload off (what `ethtool -K IFACE tx off` does): a veth otherwise hands
        AF_XDP frames whose UDP checksum is only the pseudo-header's partial sum
  udppeer.py exchange IN.pcap HOST PORT SPORT MTU ANSWERS
        sends the UDP payloads of IN.pcap from SPORT to HOST:PORT, at most WINDOW messages
        unanswered, and writes every answer payload to ANSWERS; fails when answers stop
        coming before every message has its verdict. Datagrams too long for MTU leave in
        fragments, which the gateway drops: their messages are not waited for.
  udppeer.py compare ANSWERS SIM.pcap
        the multiset of answer payloads against the UDP payloads of simulate's output
  udppeer.py ping HOST
        one ICMP echo, fails without a reply
"""
import collections
import ctypes
import fcntl
import os
import select
import socket
import struct
import sys
import time

from pcapsplit import csum as ones_sum, records  # same directory

WINDOW = 256  # messages in flight: far below what the gateway's RX ring holds
STALL_SECONDS = 20  # no answer for this long while some are missing: report and fail
IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0  # <linux/in.h>


def csum(data):
    """The Internet checksum of data (what goes into the header)."""
    return ~ones_sum(data) & 0xFFFF


def udp_payload(frame):
    """The UDP payload of an untagged IPv4 or IPv6 frame, or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack_from(">H", frame, 12)[0]
    if etype == 0x0800 and len(frame) >= 34 and frame[23] == 17:
        udp = 14 + (frame[14] & 15) * 4
    elif etype == 0x86DD and len(frame) >= 62 and frame[20] == 17:
        udp = 54
    else:
        return None
    ulen = struct.unpack_from(">H", frame, udp + 4)[0]
    return frame[udp + 8:udp + ulen]


def ipv4_header(saddr, daddr, length, ident, frag):
    ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, length, ident, frag, 64, 17, 0,
                               saddr, daddr))
    struct.pack_into(">H", ip, 10, csum(bytes(ip)))
    return bytes(ip)


def fragments(saddr, daddr, udp, mtu, ident):
    """The IPv4 packets the kernel sends for UDP segment `udp` on a link of `mtu` (no DF): one
    when it fits, else pieces of (mtu - 20) rounded down to 8 bytes, first one first."""
    if 20 + len(udp) <= mtu:
        return [ipv4_header(saddr, daddr, 20 + len(udp), 0, 0) + udp]
    step, out = (mtu - 20) & ~7, []
    for off in range(0, len(udp), step):
        piece = udp[off:off + step]
        more = 0x2000 if off + step < len(udp) else 0
        out.append(ipv4_header(saddr, daddr, 20 + len(piece), ident, more | off // 8) + piece)
    return out


def rewrite(src, dst, sip, dip, sport, dport, mtu):
    head, recs = records(src)
    endian = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    saddr, daddr = socket.inet_aton(sip), socket.inet_aton(dip)
    out, n = [head], 0
    for rec, frame in recs:
        etype = struct.unpack_from(">H", frame, 12)[0]
        if etype != 0x0800 or frame[23] != 17:
            sys.exit("rewrite: only untagged IPv4/UDP frames (cwgen --ipv6 0 --vlan 0)")
        payload = udp_payload(frame)
        udp = bytearray(struct.pack(">HHHH", sport, dport, 8 + len(payload), 0))
        pseudo = saddr + daddr + struct.pack(">BBH", 0, 17, 8 + len(payload))
        struct.pack_into(">H", udp, 6, csum(pseudo + bytes(udp) + payload) or 0xFFFF)
        for pkt in fragments(saddr, daddr, bytes(udp) + payload, mtu, n & 0xFFFF):
            new = frame[:14] + pkt
            out.append(rec[:8] + struct.pack(endian + "II", len(new), len(new)) + new)
            n += 1
    open(dst, "wb").write(b"".join(out))
    print(n)


def senders(src, dst, prefix):
    lines = open(src).read().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        sid, prefixes, name = line.split(",", 2)
        out.append(f"{sid},{prefixes} {prefix},{name}")
    open(dst, "w").write("\n".join(out) + "\n")


def txcsum_off(iface):
    SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
    val = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_STXCSUM, 0))
    ifr = struct.pack("16sP", iface.encode(), ctypes.addressof(val))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)


def exchange(pcap, host, port, sport, mtu, answers_path):
    reqs = [p for p in (udp_payload(f) for _, f in records(pcap)[1]) if p is not None]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)  # fragment, no DF
    s.bind(("0.0.0.0", sport))
    s.setblocking(False)

    def answered(p):  # messages the gateway answers: fragmented datagrams are dropped
        return struct.unpack_from("<H", p, 4)[0] if 28 + len(p) <= mtu else 0

    want = sum(answered(p) for p in reqs)
    sent_msgs = got_msgs = i = 0
    answers = []
    last = time.monotonic()
    while got_msgs < want or i < len(reqs):
        while i < len(reqs) and sent_msgs - got_msgs < WINDOW:
            s.sendto(reqs[i], (host, port))
            sent_msgs += answered(reqs[i])
            i += 1
        ready, _, _ = select.select([s], [], [], 1.0)
        if not ready:
            if time.monotonic() - last > STALL_SECONDS:
                sys.exit(f"exchange: {want - got_msgs} of {want} messages unanswered "
                         f"({i} of {len(reqs)} datagrams sent)")
            continue
        while True:
            try:
                a = s.recv(65535)
            except BlockingIOError:
                break
            answers.append(a)
            got_msgs += struct.unpack_from("<H", a, 4)[0] if len(a) >= 6 else 0
            last = time.monotonic()
    with open(answers_path, "wb") as f:
        for a in answers:
            f.write(struct.pack("<I", len(a)) + a)
    print(f"{len(reqs)} datagrams ({want} messages to answer, "
          f"{sum(1 for p in reqs if not answered(p))} datagrams fragmented) sent, "
          f"{len(answers)} answers ({got_msgs} verdicts)")


def read_answers(path):
    data, off, out = open(path, "rb").read(), 0, []
    while off + 4 <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        out.append(data[off + 4:off + 4 + n])
        off += 4 + n
    return out


def compare(answers_path, sim):
    got = collections.Counter(read_answers(answers_path))
    ref = collections.Counter(p for p in (udp_payload(f) for _, f in records(sim)[1]) if p)
    if got == ref:
        print(f"{sum(got.values())} answers equal to simulate's")
        return
    print(f"answers differ: {sum((got - ref).values())} only from the gateway, "
          f"{sum((ref - got).values())} only from simulate", file=sys.stderr)
    sys.exit(1)


def ping(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    body = b"clearway-afxdp-ping"
    msg = struct.pack(">BBHHH", 8, 0, 0, ident, 1) + body
    msg = msg[:2] + struct.pack(">H", csum(msg)) + msg[4:]
    s.sendto(msg, (host, 0))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ready, _, _ = select.select([s], [], [], 0.5)
        if not ready:
            continue
        pkt, addr = s.recvfrom(2048)
        icmp = pkt[(pkt[0] & 15) * 4:]
        if addr[0] == host and icmp[0] == 0 and struct.unpack_from(">H", icmp, 4)[0] == ident:
            print(f"echo reply from {host}")
            return
    sys.exit(f"ping: no echo reply from {host}")


def main(argv):
    cmds = {
        "rewrite": (7, lambda a: rewrite(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]),
                                         int(a[6]))),
        "senders": (3, lambda a: senders(*a)),
        "txcsum-off": (1, lambda a: txcsum_off(a[0])),
        "exchange": (6, lambda a: exchange(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), a[5])),
        "compare": (2, lambda a: compare(*a)),
        "ping": (1, lambda a: ping(a[0])),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][0]:
        sys.exit(__doc__)
    cmds[argv[1]][1](argv[2:])


if __name__ == "__main__":
    main(sys.argv)
