#!/usr/bin/env python3
"""The report of bench/run: raw numbers in, table, ratios, targets and JSON out.

Usage: report.py RESULTS.tsv HOST.txt COMMAND_LINE [JSON_FILE]

RESULTS.tsv has one measurement a line: round, system, metric, value. Every
cell of the table is the median over the rounds, with min-max when there
was more than one round. Ratios are ratios of medians, so they compare
numbers taken in the same run, interleaved.
"""
import datetime
import json
import statistics
import sys

NAMES = {"iron": "iron", "ironrelay": "iron via relay", "wg": "wireguard-go", "veth": "veth", "nebula": "nebula",
         "tinc": "tinc", "fastd": "fastd", "ygg": "yggdrasil", "openvpn": "openvpn"}

# metric, label, format
ROWS = [
    ("tcp1_mbps", "TCP 1 stream (Mbit/s)", "{:.0f}"),
    ("tcp4_mbps", "TCP 4 streams (Mbit/s)", "{:.0f}"),
    ("tcp1_min_interval_mbps", "  slowest second, 1 stream", "{:.0f}"),
    ("tcp4_min_interval_mbps", "  slowest second, 4 streams", "{:.0f}"),
    ("tcp1_retransmits", "  retransmits, 1 stream", "{:.0f}"),
    ("tcp4_retransmits", "  retransmits, 4 streams", "{:.0f}"),
    ("rtt_avg_ms", "ping RTT avg (ms)", "{:.3f}"),
    ("rtt_p50_ms", "ping RTT p50 (ms)", "{:.3f}"),
    ("rtt_p99_ms", "ping RTT p99 (ms)", "{:.3f}"),
    ("rtt_max_ms", "ping RTT max (ms)", "{:.3f}"),
    ("ping_loss_pct", "ping loss (%)", "{:.1f}"),
    ("first_ping_ms", "first ping after start of B (ms)", "{:.1f}"),
    ("cpu1_s_per_gb", "daemon CPU s/GB, 1 stream (A+B)", "{:.2f}"),
    ("cpu4_s_per_gb", "daemon CPU s/GB, 4 streams (A+B)", "{:.2f}"),
    ("cpu1_a_s_per_gb", "  sender A, 1 stream", "{:.2f}"),
    ("cpu1_b_s_per_gb", "  receiver B, 1 stream", "{:.2f}"),
    ("relay_cpu1_s_per_gb", "iron relay CPU s/GB, 1 stream", "{:.2f}"),
    ("relay_cpu4_s_per_gb", "iron relay CPU s/GB, 4 streams", "{:.2f}"),
    ("machine_cpu1_s_per_gb", "machine CPU s/GB, 1 stream", "{:.2f}"),
    ("machine_cpu4_s_per_gb", "machine CPU s/GB, 4 streams", "{:.2f}"),
    ("rss_idle_kb", "RSS of A idle, no peer (KB)", "{:.0f}"),
    ("rss_1peer_kb", "RSS of A, 1 idle peer (KB)", "{:.0f}"),
    ("rss_peak_kb", "peak RSS of A after iperf3 (KB)", "{:.0f}"),
    ("rss_before_peers_kb", "RSS of A after iperf3, 1 peer (KB)", "{:.0f}"),
    ("rss_npeers_kb", "RSS of A, 1 + N idle peers (KB)", "{:.0f}"),
    ("peers_first_ping", "  N: first ping answered", "{:.0f}"),
    ("peers_connected", "  N: first or second ping answered", "{:.0f}"),
    ("rss_per_peer_kb", "RSS per idle peer (KB)", "{:.1f}"),
    ("udp_rcvbuf_errors", "UDP RcvbufErrors (A+B, v4+v6)", "{:.0f}"),
    ("tun_tx_dropped", "TUN TX drops (A+B)", "{:.0f}"),
]
# Ratios worth printing, and whether higher is better (for the reader).
RATIO_ROWS = ["tcp1_mbps", "tcp4_mbps", "rtt_avg_ms", "rtt_p50_ms", "rtt_p99_ms",
              "first_ping_ms", "cpu1_s_per_gb", "cpu4_s_per_gb", "machine_cpu1_s_per_gb",
              "machine_cpu4_s_per_gb", "rss_idle_kb", "rss_1peer_kb", "rss_per_peer_kb"]


def load(path):
    data = {}
    raw = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or parts[3] == "":
                continue
            rnd, system, metric, value = parts
            try:
                v = float(value)
            except ValueError:
                continue
            data.setdefault(system, {}).setdefault(metric, []).append(v)
            raw.append({"round": int(rnd), "system": system, "metric": metric, "value": v})
    return data, raw


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def cell(s, fmt, many):
    if s is None:
        return "-"
    text = fmt.format(s["median"])
    if many and s["min"] != s["max"]:
        text += " (" + fmt.format(s["min"]) + "-" + fmt.format(s["max"]) + ")"
    return text


def loss_levels(data):
    """The loss levels of a --loss run, in increasing order."""
    levels = set()
    for metrics in data.values():
        for m in metrics:
            if m.startswith("loss") and m.endswith("_tcp1_mbps"):
                levels.add(int(m[4:-len("_tcp1_mbps")]))
    return sorted(levels)


def loss_rows(levels):
    rows = []
    for p in levels:
        rows += [(f"loss{p}_tcp1_mbps", f"TCP 1 stream at {p} % loss (Mbit/s)", "{:.2f}"),
                 (f"loss{p}_retransmits", "  retransmits", "{:.0f}"),
                 (f"loss{p}_applied_pct", "  packets dropped on the veth (%)", "{:.1f}"),
                 (f"loss{p}_iron_dropped", "  dropped by iron itself (A+B)", "{:.0f}"),
                 (f"loss{p}_failed", "  runs failed or timed out (count)", "{:.0f}")]
    return rows


def main():
    results, host_path, command = sys.argv[1], sys.argv[2], sys.argv[3]
    json_path = sys.argv[4] if len(sys.argv) > 4 else ""
    data, raw = load(results)
    host = {}
    with open(host_path) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            host[k] = v
    systems = [s for s in NAMES if s in data]
    summ = {s: {m: summary(v) for m, v in data[s].items()} for s in systems}
    rounds = max((r["round"] for r in raw), default=0)
    many = rounds > 1

    def med(system, metric):
        s = summ.get(system, {}).get(metric)
        return None if s is None else s["median"]

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"\niron benchmark, {now}: {command}")
    print(f"kernel {host.get('kernel', '?')}, {host.get('cpus', '?')} CPUs, "
          f"load average before {host.get('loadavg_before', '?')}, after {host.get('loadavg_after', '?')}")
    for k in ["iron", "wireguard-go", "iperf3"] + sorted(k for k in host if k.startswith("tun_")):
        if k in host:
            print(f"{k}: {host[k]}")
    note = "median (min-max) of " + str(rounds) + " rounds" if many else "1 round"
    print(f"({note}; ratios are of medians)\n")

    levels = loss_levels(data)
    rows = ROWS + loss_rows(levels)
    cols = [NAMES[s] for s in systems]
    table = []
    for metric, label, fmt in rows:
        if not any(metric in summ[s] for s in systems):
            continue
        if metric.endswith("_failed"):
            # A count over the rounds, not a median.
            table.append([label] + [f"{sum(data[s].get(metric, [])):.0f}" if metric in data[s] else "-"
                                    for s in systems])
            continue
        table.append([label] + [cell(summ[s].get(metric), fmt, many) for s in systems])
    widths = [max(len(r[i]) for r in table + [["metric"] + cols]) for i in range(len(cols) + 1)]
    line = "  ".join(["{:<%d}" % widths[0]] + ["{:>%d}" % w for w in widths[1:]])
    print(line.format("metric", *cols))
    print(line.format(*("-" * w for w in widths)))
    for r in table:
        print(line.format(*r))

    ratio_rows = RATIO_ROWS + [f"loss{p}_tcp1_mbps" for p in levels]
    ratios = {}
    for other in ("wg", "veth", "fastd"):
        if "iron" not in summ or other not in summ:
            continue
        rs = {}
        for metric in ratio_rows:
            a, b = med("iron", metric), med(other, metric)
            if a is not None and b:
                rs[metric] = round(a / b, 3)
        ratios["iron/" + NAMES[other]] = rs
    if ratios:
        print()
        keys = list(ratios)
        labels = {m: l.strip() for m, l, _ in rows}
        rw = max(len(labels[m]) for m in ratio_rows)
        print(("{:<%d}" % rw).format("ratio") + "".join("  {:>18}".format(k) for k in keys))
        for metric in ratio_rows:
            if not any(metric in ratios[k] for k in keys):
                continue
            vals = [ratios[k].get(metric) for k in keys]
            print(("{:<%d}" % rw).format(labels[metric]) +
                  "".join("  {:>18}".format("-" if v is None else f"{v:.2f}x") for v in vals))

    targets = []

    def target(name, value, goal, ok):
        targets.append({"target": name, "value": value, "goal": goal,
                        "met": None if value is None else bool(ok)})

    def ratio(metric, other):
        a, b = med("iron", metric), med(other, metric)
        return None if a is None or not b else a / b

    if "iron" in summ and levels:
        # Issue 15: a lossy path costs iron no more than wireguard-go,
        # which has no congestion control: half its throughput at least.
        if "wg" in summ:
            for p in levels:
                r = ratio(f"loss{p}_tcp1_mbps", "wg")
                target(f"TCP 1 stream at {p} % loss: iron / wireguard-go", r, ">= 0.5",
                       r is not None and r >= 0.5)
    elif "iron" in summ:
        if "wg" in summ:
            for m, label in (("tcp1_mbps", "TCP 1 stream"), ("tcp4_mbps", "TCP 4 streams")):
                r = ratio(m, "wg")
                target(f"{label}: iron / wireguard-go", r, ">= 2", r is not None and r >= 2)
            r = ratio("rtt_p50_ms", "wg")
            target("RTT p50: iron / wireguard-go", r, "<= 0.5", r is not None and r <= 0.5)
            for m, label in (("cpu1_s_per_gb", "1 stream"), ("cpu4_s_per_gb", "4 streams")):
                r = ratio(m, "wg")
                target(f"CPU s/GB {label}: iron / wireguard-go", r, "<= 0.5", r is not None and r <= 0.5)
        # Issue 16: closer to the bare wire (the raw veth of the same run).
        if "veth" in summ:
            for m, label in (("tcp1_mbps", "TCP 1 stream"), ("tcp4_mbps", "TCP 4 streams")):
                r = ratio(m, "veth")
                target(f"{label}: iron / raw veth", r, ">= 0.33", r is not None and r >= 0.33)
            for m, label in (("machine_cpu1_s_per_gb", "1 stream"),
                             ("machine_cpu4_s_per_gb", "4 streams")):
                r = ratio(m, "veth")
                target(f"machine CPU s/GB {label}: iron / raw veth", r, "<= 3",
                       r is not None and r <= 3)
        vpns = [o for o in ("wg", "nebula", "tinc", "fastd", "ygg", "openvpn")
                if o in summ and med(o, "rtt_p50_ms")]
        if vpns:
            best = min(vpns, key=lambda o: med(o, "rtt_p50_ms"))
            r = ratio("rtt_p50_ms", best)
            target(f"RTT p50: iron / best other VPN ({NAMES[best]})", r, "<= 0.8",
                   r is not None and r <= 0.8)
        if "fastd" in summ:
            r = ratio("rtt_p50_ms", "fastd")
            target("RTT p50: iron / fastd", r, "<= 1", r is not None and r <= 1)
        # Ahead of every other VPN in the run, single stream (issue 7).
        for other in ("nebula", "tinc", "fastd", "ygg", "openvpn"):
            if other in summ:
                r = ratio("tcp1_mbps", other)
                target(f"TCP 1 stream: iron / {NAMES[other]}", r, "> 1", r is not None and r > 1)
        v = med("iron", "first_ping_ms")
        target("first ping after start of B (ms)", v, "<= 50", v is not None and v <= 50)
        v = med("iron", "rss_idle_kb")
        target("RSS idle (KB)", v, "<= 8192", v is not None and v <= 8192)
        v = med("iron", "rss_per_peer_kb")
        target("RSS per idle peer (KB)", v, "<= 16", v is not None and v <= 16)
        for m, label in (("udp_rcvbuf_errors", "UDP RcvbufErrors"), ("tun_tx_dropped", "TUN TX drops")):
            vals = data["iron"].get(m)
            v = max(vals) if vals else None
            target(f"{label}, worst round", v, "0", v == 0)
    if targets:
        print("\ntargets (iron)")
        tw = max(40, max(len(t["target"]) for t in targets))
        for t in targets:
            v = t["value"]
            vs = "-" if v is None else (f"{v:.2f}" if isinstance(v, float) and v != int(v) else f"{v:g}")
            mark = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
            print(f"  {t['target']:<{tw}} {vs:>10}   goal {t['goal']:<8} {mark}")

    if json_path:
        doc = {"date": now, "command": command, "host": host, "rounds": rounds,
               "systems": {s: NAMES[s] for s in systems}, "summary": summ,
               "ratios": ratios, "targets": targets, "raw": raw}
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"\nJSON: {json_path}")


if __name__ == "__main__":
    main()
