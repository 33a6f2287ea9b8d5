#!/usr/bin/env python3
"""The table of bench/forwarding, from its results file.

    fwd_report.py RESULTS [key=value ...]

RESULTS holds tab-separated lines written by bench/forwarding:

    R round config size sat    through_pps offered_pps generator_bound bypass_share others_ms
    R round config size lossfree offered_pps
    T round config size offered_pps through_pps passed others_ms   (one loss-free try)
    L round config rtt_file summary
    B round config                  (other builds were running)

config is 1 .. 7 (configurations 3 .. 7 on the netfilter plane) or x3 .. x7
(the same on the AF_XDP plane).

The key=value arguments describe the run (rounds, seconds, CPUs, ...).
Absolute figures are medians over the rounds; a ratio is the median over the
rounds of (figure / the same figure of the reference configuration in that
round). Delays: one-way = RTT / 2; p50 and p99 per round, then the median
over the rounds; "added" is the median over the rounds of the difference to
configuration 1 of the same round. Each configuration of 3 .. 7 gets a row
per plane measured, side by side; the goals are printed per plane.
"""
import statistics
import sys

CONFIGS = {
    1: "plain forwarding",
    2: "+ netfilter, conntrack",
    3: "+ container, no module",
    4: "+ passthrough module",
    5: "+ counter module",
    7: "NetMonitor sampled 1/100",
}
PLANES = (("", "netfilter"), ("x", "af_xdp"))
SIZES = (64, 340)
METRICS = ("sat", "lossfree")
GOAL_MODULE = 0.90  # 4 >= 90% of 3
GOAL_CONTAINER = 0.40  # 3 >= 40% of 1
GOAL_DELAY_US = 20.0  # added one-way delay
GOAL_SAMPLED = 0.90  # 7 >= 90% of 1 (issue 17)
GOAL17_CONTAINER = 0.60  # 3 >= 60% of 1, saturation (issue 17)
GOAL17_DELAY_US = 10.0  # added one-way delay p50 (issue 17)


def rows_of(present):
    """(key, config, name, plane label) of every row to print, in order."""
    out = []
    for c, name in CONFIGS.items():
        if c <= 2:
            out.append((str(c), c, name, "-"))
            continue
        for prefix, label in PLANES:
            if prefix + str(c) in present:
                out.append((prefix + str(c), c, name, label))
    return out


def load(path):
    fig = {}  # (metric, config, size) -> {round: pps}
    offered = {}  # (config, size) -> {round: offered pps at saturation}
    bound = {}  # (config, size) -> rounds where the generator was the limit
    bypass = {}  # (config, size) -> max fail-open share
    rtts = {}  # (round, config) -> [rtt ns]
    busy = set()  # (round, config)
    tries = {}  # config -> [others_ms of each loss-free try]
    rounds = set()
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] == "R":
                r, c, s, metric = int(p[1]), p[2], int(p[3]), p[4]
                rounds.add(r)
                fig.setdefault((metric, c, s), {})[r] = float(p[5])
                if metric == "sat":
                    offered.setdefault((c, s), {})[r] = float(p[6])
                    if p[7] == "1":
                        bound.setdefault((c, s), set()).add(r)
                    bypass[(c, s)] = max(bypass.get((c, s), 0.0), float(p[8]))
            elif p[0] == "L":
                r, c = int(p[1]), p[2]
                with open(p[3]) as rf:
                    rtts[(r, c)] = sorted(int(x) for x in rf if x.strip())
            elif p[0] == "T":
                tries.setdefault(p[2], []).append(int(p[7]))
            elif p[0] == "B":
                busy.add((int(p[1]), p[2]))
    return fig, offered, bound, bypass, rtts, busy, tries, sorted(rounds)


def ratio(fig, metric, size, c, ref):
    a, b = fig.get((metric, c, size), {}), fig.get((metric, ref, size), {})
    rs = [a[r] / b[r] for r in a if r in b and b[r] > 0]
    return statistics.median(rs) if rs else None


def median(fig, metric, size, c):
    v = list(fig.get((metric, c, size), {}).values())
    return statistics.median(v) if v else None


def pctl(sorted_v, p):
    """Nearest-rank percentile."""
    if not sorted_v:
        return None
    k = max(1, -(-len(sorted_v) * p // 100))
    return sorted_v[int(k) - 1]


def main():
    fig, offered, bound, bypass, rtts, busy, tries, rounds = load(sys.argv[1])
    info = dict(a.split("=", 1) for a in sys.argv[2:])
    loss_pct = float(info.get("loss", "0.001")) * 100

    print()
    print("netserv forwarding benchmark (bench/forwarding): %s round(s) in %s s, kernel %s"
          % (info.get("rounds"), info.get("seconds"), info.get("kernel")))
    if info.get("smoke", "0") != "0":
        print("SMOKE RUN (--smoke): tiny counts, the figures below mean nothing")
    print("planes: %s (configurations 3-7 on each; 1 and 2 once); configuration 7 on netfilter "
          "sampled by %s" % (info.get("planes", "netfilter"),
                             {"tc": "the tc sampler", "nflog": "NFLOG rules"}.get(
                                 info.get("nf_sampler", "nflog"), "?")))
    print("generator: CPU %s (AF_PACKET); router: CPU %s, veth NAPI threads SCHED_FIFO %s, "
          "container SCHED_FIFO %s; receiver: %s"
          % (info.get("gen_cpu"), info.get("router_cpu"), info.get("napi_prio"),
             info.get("reader_prio"),
             "tc BPF drop + in-kernel echo" if info.get("rx") == "bpf" else
             "iptables raw drop + user-space echo"))
    print("saturation: %s s at the generator's full rate; loss-free: loss <= %g%%, "
          "%s search steps of %s s; delay: %s pings per round, one-way = RTT/2"
          % (info.get("saturation_s"), loss_pct, info.get("steps"), info.get("step_s"),
             info.get("pings")))
    print()

    owd = {}  # (round, config) -> (p50, p99) of RTT/2 in us
    for key, v in rtts.items():
        if v:
            owd[key] = (pctl(v, 50) / 2000.0, pctl(v, 99) / 2000.0)

    def delay_of(c, i):
        v = [owd[(r, c)][i] for r in rounds if (r, c) in owd]
        return statistics.median(v) if v else None

    def added(c, i):
        v = [owd[(r, c)][i] - owd[(r, "1")][i] for r in rounds
             if (r, c) in owd and (r, "1") in owd]
        return statistics.median(v) if v else None

    present = {k[1] for k in fig} | {k[1] for k in owd}
    rows = rows_of(present)
    planes = [(pre, lab) for pre, lab in PLANES if any(k.startswith(pre) and k[len(pre):].isdigit()
                                                       and int(k[len(pre):]) >= 3 for k in present)]
    delay = {k: (delay_of(k, 0), delay_of(k, 1)) for k, _, _, _ in rows
             if delay_of(k, 0) is not None}

    def cell(metric, size, c):
        m = median(fig, metric, size, c)
        if m is None:
            return "-"
        r = ratio(fig, metric, size, c, "1")
        lead = ">=" if metric == "sat" and len(bound.get((c, size), ())) * 2 > len(rounds) else ""
        return "%s%.1f (%.2f)" % (lead, m / 1000.0, r if r is not None else float("nan"))

    hdr = "%-28s %-9s %-15s %-15s %-15s %-15s  %-22s" % (
        "", "", "saturation", "", "loss-free", "", "one-way delay, us")
    print(hdr)
    print("%-28s %-9s %-15s %-15s %-15s %-15s  %6s %6s %9s" % (
        "config (kpps, x config 1)", "plane", "64 B", "340 B", "64 B", "340 B", "p50", "p99",
        "added p50"))
    for k, c, name, plane in rows:
        cells = [cell(m, s, k) for m in METRICS for s in SIZES]
        d = delay.get(k)
        if d:
            a = added(k, 0)
            dl = "%6.1f %6.1f %9s" % (d[0], d[1],
                                      "-" if c == 1 or a is None else "%+.1f" % a)
        else:
            dl = "%6s %6s %9s" % ("-", "-", "-")
        mark = "*" if any((r, k) in busy for r in rounds) else " "
        print("%-28s %-9s %-15s %-15s %-15s %-15s  %s" % ("%d %s%s" % (c, name, mark), plane,
                                                         *cells, dl))
    print()

    def goal_row(label, num, den, goal):
        out = []
        for m in METRICS:
            for s in SIZES:
                r = ratio(fig, m, s, num, den)
                out.append("-" if r is None else
                           "%3.0f%% %s" % (r * 100, "ok" if r >= goal else "MISSED"))
        print("%-42s %-13s %-13s %-13s %-13s" % (label, *out))

    print("%-42s %-13s %-13s %-13s %-13s" % (
        "goals (issue 4)", "sat 64 B", "sat 340 B", "loss-free 64", "loss-free 340"))
    for pre, lab in planes:
        tag = " [%s]" % lab
        goal_row("4 >= 90% of 3 (module layer)" + tag, pre + "4", pre + "3", GOAL_MODULE)
        goal_row("3 >= 40% of 1 (container)" + tag, pre + "3", "1", GOAL_CONTAINER)
        # 7 keeps 2's conntrack rule: against 2, the sampling's own cost.
        goal_row("7 >= 90% of 2 (sampling)" + tag, pre + "7", "2", GOAL_SAMPLED)
        for c in (4, 5):
            a50, a99 = added(pre + str(c), 0), added(pre + str(c), 1)
            if a50 is not None:
                print("added one-way delay <= %g us, config %d%s: p50 %+.1f us %s (p99 %+.1f us)"
                      % (GOAL_DELAY_US, c, tag, a50, "ok" if a50 <= GOAL_DELAY_US else "MISSED",
                         a99))
    print()

    def met(r, goal):
        return "-" if r is None else "%3.0f%% %s" % (r * 100, "met" if r >= goal else "NOT met")

    print("%-39s %s" % ("goals (issue 17), saturation 64 B/340 B",
                        "  ".join("%-27s" % lab for _, lab in planes)))
    for label, c, goal in (("3 >= 60% of 1 (container, no module)", "3", GOAL17_CONTAINER),
                           ("7 >= 90% of 1 (NetMonitor sampled)", "7", GOAL_SAMPLED)):
        cells = []
        for pre, _ in planes:
            cells.append("%-13s %-13s" % tuple(met(ratio(fig, "sat", s, pre + c, "1"), goal)
                                               for s in SIZES))
        print("%-39s %s" % (label, "  ".join(cells)))
    for c in (3, 4, 5):
        cells = []
        for pre, _ in planes:
            a = added(pre + str(c), 0)
            cells.append("%-27s" % ("-" if a is None else "%+.1f us %s" % (
                a, "met" if a <= GOAL17_DELAY_US else "NOT met")))
        print("%-39s %s" % ("added delay p50 <= %g us, config %d" % (GOAL17_DELAY_US, c),
                            "  ".join(cells)))
    print("(configuration 6, KeepAlive >= 50% of 1: bench/forwarding-keepalive)")
    r32 = ratio(fig, "sat", 64, "3", "2")
    r42 = ratio(fig, "sat", 64, "4", "2")
    if r32 is not None and r42 is not None:
        print("papers (1 GbE, 2011): 3 = 57%% of 2, 4 = 29%% of 2; here (saturation, 64 B): "
              "3 = %.0f%% of 2, 4 = %.0f%% of 2" % (r32 * 100, r42 * 100))
    print()

    def k(x):
        return "-" if x is None else "%.0f" % (x / 1000)

    print("per round: saturation delivered/offered kpps at 64 B, 340 B; loss-free kpps 64 B, "
          "340 B; one-way p50/p99")
    for c, num, _, plane in rows:
        parts = []
        for r in rounds:
            sat = ["%s/%s" % (k(fig.get(("sat", c, s), {}).get(r)),
                              k(offered.get((c, s), {}).get(r))) for s in SIZES]
            lf = [k(fig.get(("lossfree", c, s), {}).get(r)) for s in SIZES]
            d = owd.get((r, c))
            dl = [] if d is None else ["%.0f/%.0fus" % d]
            parts.append("r%d %s" % (r, " ".join(sat + lf + dl)))
        print("  %s: %s" % ("%d%s" % (num, "" if plane == "-" else " " + plane), "   ".join(parts)))
    notes = []
    if any(bound.values()):
        notes.append(">= : the router kept up with the generator's full rate in most rounds "
                     "(the figure is the generator's, a lower bound)")
    if busy:
        notes.append("* : the machine was busy (another build, or others' CPU use) before or "
                     "after these measurements: treat them with suspicion")
    def cname(c):
        return c[1:] + " af_xdp" if c.startswith("x") else c

    fo = {k: v for k, v in bypass.items() if v > 0.001}
    if fo:
        notes.append("fail-open (delivered without the container; not counted above): " +
                     ", ".join("config %s %d B up to %.1f%%" % (cname(c), s, v * 100)
                               for (c, s), v in sorted(fo.items())))
    if tries:
        lim = int(info.get("disturb_ms", "30"))
        notes.append("loss-free tries in which others took more than %d ms of the router's CPU "
                     "(tried again): " % lim +
                     ", ".join("config %s %d of %d" % (cname(c), sum(1 for x in v if x > lim),
                                                       len(v))
                               for c, v in sorted(tries.items())))
    for n in notes:
        print("note: " + n)


if __name__ == "__main__":
    main()
