#!/usr/bin/env python3
"""Slow-client attackers for benches/load/soak.sh (stdlib only, one thread, one epoll).

Holds two kinds of attacking connections to one HTTP/1.1 listener on loopback:

  silent  connect, send nothing.  The gateway should close it header_read_timeout after
          the accept (it sends a FIN: seen here as EPOLLRDHUP).
  slow    connect with a small SO_RCVBUF, send one valid GET (a signed URL for a big file),
          then read nothing.  The gateway fills the socket buffers, then should close it
          send_timeout after the last body frame it managed to hand to the socket.

Every socket the gateway closes is re-opened at once while --duration lasts, so the number
of attackers stays constant; then no more are opened and the ones still open get --drain
seconds to be closed by the gateway before this script closes them itself (they are then
counted as "not closed by the gateway").

How a close is seen without reading: a slow reader's socket is full, so the gateway's FIN
would wait behind data that is never read.  Instead the attacker sends a 2-byte probe
("\\r\\n", which an HTTP/1 parser skips before a request line) every --probe seconds.
While the gateway holds the connection the bytes are harmless (hyper stops reading once
they sit in its buffer, and the rest stay in the kernel's); once the gateway has closed
the socket, Linux answers the next probe -- or, when probe bytes were still unread at the
close, the close itself -- with a RST (RFC 1122 "data after close"), seen here as
EPOLLERR/EPOLLHUP.  With unread probe bytes the RST is immediate, so the measured time is
exact; otherwise it is late by at most one probe interval (--probe, 0.5 s).

Every attacker announces an MSS of 1460 (--mss): over loopback (MSS 65483) Linux would size
the gateway's send buffer for each slow reader at ~2.7 MB of kernel memory instead of ~65 KB,
which no client on a real network can make it do.

Peeking (MSG_PEEK) at the first bytes of a slow reader's queue checks that the gateway
answered 200 without consuming anything.  TCP_INFO's last_data_recv at the close tells how
long the gateway kept sending before the buffers were full ("fill" below).

Every loop is bounded: --duration + --drain seconds of wall time, at most --max-opens
sockets opened in all.  Writes a JSON summary to --out (and prints it).
"""

import argparse
import collections
import errno
import heapq
import json
import resource
import select
import socket
import statistics
import struct
import sys
import time

EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
EPOLLERR, EPOLLHUP, EPOLLRDHUP = select.EPOLLERR, select.EPOLLHUP, select.EPOLLRDHUP
TCP_INFO = getattr(socket, "TCP_INFO", 11)

CONNECTING, OPEN = 0, 1


class Attacker:
    __slots__ = ("kind", "sock", "state", "t_start", "t_open", "t_req", "probes", "status",
                 "done")

    def __init__(self, kind, sock, now):
        self.kind = kind
        self.sock = sock
        self.state = CONNECTING
        self.t_start = now
        self.t_open = None
        self.t_req = None
        self.probes = 0
        self.status = None
        self.done = False


def dist(xs):
    if not xs:
        return None
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
    return {"n": len(xs), "min": round(xs[0], 3), "median": round(statistics.median(xs), 3),
            "p90": round(q(0.90), 3), "p99": round(q(0.99), 3), "max": round(xs[-1], 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True, help="signed path?query of the big file")
    ap.add_argument("--silent", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--duration", type=float, required=True, help="seconds of constant pressure")
    ap.add_argument("--drain", type=float, default=15.0,
                    help="seconds after --duration for the last attackers to be closed")
    ap.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF of a slow reader")
    ap.add_argument("--mss", type=int, default=1460,
                    help="TCP_MAXSEG announced by every attacker (an Internet client's; 0 = loopback's 65483)")
    ap.add_argument("--ramp", type=float, default=1000.0,
                    help="connections opened per second, at most (smoothly: no burst above 1/50 of it)")
    ap.add_argument("--probe", type=float, default=0.5, help="seconds between a slow reader's probes")
    ap.add_argument("--header-read-timeout", type=float, required=True)
    ap.add_argument("--send-timeout", type=float, required=True)
    ap.add_argument("--grace", type=float, default=2.0, help="allowed lateness of a close, seconds")
    ap.add_argument("--max-opens", type=int, default=200000)
    ap.add_argument("--ready-file", help="touched once every first attacker is connected")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    if a.host != "127.0.0.1" and not a.host.startswith("127."):
        sys.exit("soak_attack.py: loopback only")
    request = (f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
               f"User-Agent: soak-slow-reader\r\n\r\n").encode()
    addr = (a.host, a.port)
    ep = select.epoll()
    live = {}  # fd -> Attacker
    want = {"silent": a.silent, "slow": a.slow}
    # Interleave the two kinds in the initial ramp so both build up together.
    pending = collections.deque()
    probes = []  # heap of (time, seq, Attacker): the slow readers' next probes
    seq = 0
    for i in range(max(a.silent, a.slow)):
        if i < a.silent:
            pending.append("silent")
        if i < a.slow:
            pending.append("slow")
    stats = {k: {"opened": 0, "connect_failed": 0, "closed_by_gateway": 0,
                 "closed_by_us_at_end": 0, "close_s": [], "late": [], "open_at_end_age_s": [],
                 "status": {}, "probes": 0, "open_at_end_gateway_side": {}, "fill_s": [], "after_req_s": [], "rst": 0, "fin": 0}
             for k in want}
    t0 = time.monotonic()
    t_stop_opening = t0 + a.duration
    t_end = t_stop_opening + a.drain
    burst = max(1.0, a.ramp / 50)
    budget = burst
    t_budget = t0
    opens = 0
    ready_written = False
    deadline = {"silent": a.header_read_timeout, "slow": a.send_timeout}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    peak_open = 0
    samples = []  # (t, silent_open, slow_open) once a second
    next_sample = t0

    def open_one(kind, now):
        nonlocal opens
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if kind == "slow":
            # Before connect, so the window offered in the handshake is already small.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        if a.mss:
            # Before connect, so the SYN announces it and the gateway's side uses it too.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, a.mss)
        # Closing with unread data (or SO_LINGER 0) sends a RST: no TIME_WAIT pile-up here.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            stats[kind]["connect_failed"] += 1
            return False
        at = Attacker(kind, s, now)
        live[s.fileno()] = at
        ep.register(s.fileno(), EPOLLOUT | EPOLLRDHUP)
        opens += 1
        return True

    def finish(at, now, by_gateway, how=""):
        st = stats[at.kind]
        fd = at.sock.fileno()
        if by_gateway:
            if at.kind == "slow":
                # How long after the request did data last arrive (the buffers were full)?
                try:
                    info = at.sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
                    last_data_recv_ms = struct.unpack_from("I", info, 52)[0]
                    if at.t_req is not None:
                        fill = (now - at.t_req) - last_data_recv_ms / 1000
                        if fill >= 0:
                            st["fill_s"].append(fill)
                except OSError:
                    pass
            st["closed_by_gateway"] += 1
            st[how] += 1
            took = now - at.t_open
            st["close_s"].append(took)
            if at.kind == "slow" and at.t_req is not None:
                st["after_req_s"].append(now - at.t_req)
            if took > deadline[at.kind] + a.grace:
                st["late"].append((round(at.t_open - t0, 2), round(took, 2)))
        else:
            st["closed_by_us_at_end"] += 1
            st["open_at_end_age_s"].append(round(now - at.t_open, 3) if at.t_open else None)
            try:
                peer_state = server_side.get(at.sock.getsockname()[1], "none")
            except OSError:
                peer_state = "?"
            st["open_at_end_gateway_side"][peer_state] = st["open_at_end_gateway_side"].get(peer_state, 0) + 1
        st["probes"] += at.probes
        try:
            ep.unregister(fd)
        except OSError:
            pass
        del live[fd]
        at.sock.close()
        at.done = True
        if by_gateway and now < t_stop_opening:
            pending.append(at.kind)

    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        if now >= t_stop_opening and not live:
            break
        # Open what is pending, at most --ramp per second.
        if now < t_stop_opening and pending:
            budget = min(burst, budget + (now - t_budget) * a.ramp)
            t_budget = now
            while pending and budget >= 1 and opens < a.max_opens:
                kind = pending.popleft()
                if open_one(kind, now):
                    budget -= 1
                else:
                    pending.append(kind)
                    break
        else:
            t_budget = now
        if not ready_written and a.ready_file and opens >= a.silent + a.slow \
                and all(x.state == OPEN for x in live.values()):
            open(a.ready_file, "w").close()
            ready_written = True
        timeout = 0.02 if pending and now < t_stop_opening else 0.05
        for fd, ev in ep.poll(timeout, 4096):
            at = live.get(fd)
            if at is None:
                continue
            now = time.monotonic()
            if at.state == CONNECTING:
                err = at.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err or ev & (EPOLLERR | EPOLLHUP):
                    stats[at.kind]["connect_failed"] += 1
                    ep.unregister(fd)
                    del live[fd]
                    at.sock.close()
                    if now < t_stop_opening:
                        pending.append(at.kind)
                    continue
                at.state = OPEN
                at.t_open = now
                stats[at.kind]["opened"] += 1
                if at.kind == "slow":
                    try:
                        at.sock.send(request)
                    except OSError:
                        finish(at, now, True, "rst")
                        continue
                    at.t_req = now
                    seq += 1
                    heapq.heappush(probes, (now + a.probe, seq, at))
                # From now on only a close wakes us: no EPOLLIN, so data is never read.
                ep.modify(fd, EPOLLRDHUP)
                continue
            if ev & (EPOLLERR | EPOLLHUP):
                finish(at, now, True, "rst")
            elif ev & EPOLLRDHUP:
                finish(at, now, True, "fin")
        # Probes (slow readers) and a once-a-second sample.
        now = time.monotonic()
        while probes and probes[0][0] <= now:
            _, _, at = heapq.heappop(probes)
            if at.done:
                continue
            if at.status is None:
                try:
                    head = at.sock.recv(12, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    if head:
                        at.status = head[9:12].decode("ascii", "replace")
                        stats["slow"]["status"][at.status] = stats["slow"]["status"].get(at.status, 0) + 1
                except OSError:
                    pass
            try:
                at.sock.send(b"\r\n", socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
                at.probes += 1
            except BlockingIOError:
                pass
            except OSError:
                finish(at, now, True, "rst")
                continue
            seq += 1
            heapq.heappush(probes, (now + a.probe, seq, at))
        if now >= next_sample:
            so = sum(1 for x in live.values() if x.kind == "silent" and x.state == OPEN)
            sl = sum(1 for x in live.values() if x.kind == "slow" and x.state == OPEN)
            samples.append((round(now - t0, 1), so, sl))
            peak_open = max(peak_open, so + sl)
            next_sample = now + 1.0

    # What the kernel holds on the gateway's side of each attacker still open: a socket that
    # the handshake never created (a SYN cookie whose ACK met a full accept queue) leaves a
    # client that believes it is connected and that the gateway cannot know about.
    server_side = {}
    try:
        names = {"01": "ESTABLISHED", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
                 "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                lport, rport = int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16)
                if lport == a.port:
                    server_side[rport] = names.get(parts[3], parts[3])
    except OSError:
        pass
    now = time.monotonic()
    for at in list(live.values()):
        if at.state == OPEN:
            finish(at, now, False)
        else:
            ep.unregister(at.sock.fileno())
            del live[at.sock.fileno()]
            at.sock.close()
    ep.close()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - t0
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    pressure = [s for s in samples if 5 <= s[0] <= a.duration]
    out = {
        "config": {k: getattr(a, k) for k in ("silent", "slow", "duration", "drain", "rcvbuf", "mss", "ramp",
                                               "probe", "header_read_timeout", "send_timeout", "grace")},
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_user_s": round(ru1.ru_utime - ru0.ru_utime, 2),
        "cpu_sys_s": round(ru1.ru_stime - ru0.ru_stime, 2),
        "peak_open": peak_open,
        "open_min_during_pressure": min((s[1] + s[2] for s in pressure), default=None),
        "samples": samples,
    }
    for k, st in stats.items():
        out[k] = {
            "opened": st["opened"],
            "connect_failed": st["connect_failed"],
            "closed_by_gateway": st["closed_by_gateway"],
            "closed_by_gateway_fin": st["fin"],
            "closed_by_gateway_rst": st["rst"],
            "closed_by_us_at_end": st["closed_by_us_at_end"],
            "open_at_end_age_s": dist([x for x in st["open_at_end_age_s"] if x is not None]),
            "open_at_end_gateway_side": st["open_at_end_gateway_side"],
            "deadline_s": deadline[k],
            "close_s": dist(st["close_s"]),
            "late": st["late"][:20],  # (opened at, s after the start; open -> close, s)
            "late_count": len(st["late"]),
        }
        if k == "slow":
            out[k].update({"status": st["status"], "probes": st["probes"],
                           "after_request_s": dist(st["after_req_s"]), "fill_s": dist(st["fill_s"])})
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "samples"}))


if __name__ == "__main__":
    main()
