#!/usr/bin/env python3
"""pcapsplit.py - cuts classic pcap files for the gateway tests.

Why this file exists: the reload test feeds the gateway through a FIFO chunk by chunk (so that
a SIGHUP lands while traffic flows), and the two-worker test gives each worker the streams of
some senders. No dependencies beyond Python's standard library.

  pcapsplit.py chunks IN.pcap OUTPREFIX N   chunks of N records; chunk 0 carries the file
                                            header, the others are bare records to append to
                                            the same stream; prints the number of chunks
  pcapsplit.py senders IN.pcap A.pcap B.pcap
                                            CWP datagrams of odd sender ids to A, even ones
                                            (and anything that is not CWP) to B; prints the
                                            record counts
  pcapsplit.py remap IN.pcap OUT.pcap K     adds K to every CWP sender id (UDP checksums
                                            recomputed), to run two workloads side by side
  pcapsplit.py cat OUT.pcap IN.pcap...      concatenates captures
"""
import struct
import sys


def records(path):
    data = open(path, "rb").read()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, off + 8)[0]
        out.append((data[off:off + 16], data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], out


def udp_of(frame):
    """(ip offset, udp offset, ipv6) of a CWP datagram's frame, or None."""
    off = 14
    if len(frame) < 14:
        return None
    etype = struct.unpack_from(">H", frame, 12)[0]
    if etype == 0x8100 and len(frame) >= 18:
        etype = struct.unpack_from(">H", frame, 16)[0]
        off = 18
    ip = off
    if etype == 0x0800 and len(frame) >= off + 20 and frame[off + 9] == 17:
        off += (frame[off] & 15) * 4
    elif etype == 0x86DD and len(frame) >= off + 40 and frame[off + 6] == 17:
        off += 40
    else:
        return None
    if len(frame) < off + 8 + 12 or frame[off + 8:off + 12] != b"CWP1":
        return None
    return ip, off, etype == 0x86DD


def sender_of(frame):
    """The CWP sender id of a UDP frame, or None."""
    u = udp_of(frame)
    return None if u is None else struct.unpack_from("<I", frame, u[1] + 16)[0]


def csum(data, s=0):
    if len(data) % 2:
        data += b"\0"
    for (w,) in struct.iter_unpack(">H", data):
        s += w
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def remap(src, dst, k):
    header, recs = records(src)
    out = [header]
    for h, d in recs:
        u = udp_of(d)
        if u is not None:
            ip, udp, v6 = u
            f = bytearray(d)
            sid = struct.unpack_from("<I", f, udp + 16)[0]
            struct.pack_into("<I", f, udp + 16, (sid + k) & 0xFFFFFFFF)
            ulen = struct.unpack_from(">H", f, udp + 4)[0]
            if v6 or struct.unpack_from(">H", f, udp + 6)[0]:
                addrs = bytes(f[ip + 8:ip + 40]) if v6 else bytes(f[ip + 12:ip + 20])
                struct.pack_into(">H", f, udp + 6, 0)
                c = 0xFFFF - csum(addrs + struct.pack(">HH", 17, ulen) + bytes(f[udp:udp + ulen]))
                struct.pack_into(">H", f, udp + 6, c or 0xFFFF)
            d = bytes(f)
        out.append(h + d)
    open(dst, "wb").write(b"".join(out))


def cat(dst, srcs):
    parts = []
    for i, p in enumerate(srcs):
        header, recs = records(p)
        if i == 0:
            parts.append(header)
        parts.extend(h + d for h, d in recs)
    open(dst, "wb").write(b"".join(parts))


def chunks(src, prefix, per):
    header, recs = records(src)
    parts = [recs[i:i + per] for i in range(0, len(recs), per)]
    for i, c in enumerate(parts):
        with open(f"{prefix}{i:04d}", "wb") as f:
            if i == 0:
                f.write(header)
            f.write(b"".join(h + d for h, d in c))
    print(len(parts))


def by_sender(src, a, b):
    header, recs = records(src)
    outs = {1: [header], 0: [header]}
    for h, d in recs:
        s = sender_of(d)
        outs[1 if s is not None and s % 2 else 0].append(h + d)
    for path, key in ((a, 1), (b, 0)):
        with open(path, "wb") as f:
            f.write(b"".join(outs[key]))
    print(len(outs[1]) - 1, len(outs[0]) - 1)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "chunks":
        chunks(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "senders":
        by_sender(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "remap":
        remap(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "cat":
        cat(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
