"""The seed-style chart of a run (``srp sim --plot out.png``; matplotlib: ``srpfast[sim]``).

Top: the network size over time, with the joins (green) and leaves (red) per 5 s beneath it.
Bottom: one packet (the scenario's ``track``) against the subscribers that want it: the
dotted line counts the online subscribers, the solid line those that got the packet, over
the first seconds after its publication; the 0.72 s mark is the seed's reach figure. One
solid line per replication policy when a run compares them.
"""
from __future__ import annotations

from typing import Any

from srpfast.errors import ArgumentError

BIN = 5.0            # s per join/leave bar
TRACK_SECONDS = 5.0  # the packet panel's time span


def _rate(times: list[float], end: float) -> tuple[list[float], list[int]]:
    n = max(1, int(end / BIN) + 1)
    counts = [0] * n
    for t in times:
        counts[min(n - 1, int(t / BIN))] += 1
    return [i * BIN for i in range(n)], counts


def chart(results: list[dict[str, Any]], path: str) -> None:
    """Draw ``results`` (Result dicts of one scenario and seed, one per policy) to ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArgumentError("--plot needs matplotlib: pip install 'srpfast[sim]'") from None
    first = results[0]
    sc = first["scenario"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5),
                                      gridspec_kw={"height_ratios": [1, 1]})
    end = first["size_t"][-1] if first["size_t"] else sc["duration"]
    top.plot(first["size_t"], first["size_n"], color="black", lw=1.4,
             label="peers online (network size)")
    bins, joins = _rate(first["joins"], end)
    _, leaves = _rate(first["leaves"], end)
    width = BIN * 0.45
    top.bar([b + BIN / 2 - width / 2 for b in bins], joins, width=width, color="tab:green",
            label=f"joins per {BIN:.0f} s ({len(first['joins'])} in all)")
    top.bar([b + BIN / 2 + width / 2 for b in bins], leaves, width=width, color="tab:red",
            label=f"leaves per {BIN:.0f} s ({len(first['leaves'])} in all)")
    top.axvline(first["track_published"], color="tab:blue", ls="--", lw=1,
                label="the charted packet is published")
    top.set_xlim(0, end)
    top.set_xlabel("virtual time since the first publish (s)")
    top.set_ylabel("peers")
    top.set_title(f"{sc['name']}: {sc['peers']} peers ({sc['public']} always on), mean "
                  f"lifetime {sc['lifetime']:g} s, downtime {sc['downtime']:g} s; network "
                  f"change {first['network_change']:.0f}%  (seed {sc['seed']})", fontsize=10)
    top.legend(loc="upper right", fontsize=8, framealpha=0.9)
    top.grid(alpha=0.3)

    colors = {"weighted": "black", "flood": "tab:orange", "spray": "tab:purple"}
    t, want = first["track_t"], first["track_want"]
    keep = [i for i, x in enumerate(t) if x <= TRACK_SECONDS]
    bottom.step([t[i] for i in keep], [want[i] for i in keep], where="post", color="gray",
                ls=":", lw=2, label="subscribers online (want the packet)")
    for r in results:
        tt, have = r["track_t"], r["track_have"]
        k = [i for i, x in enumerate(tt) if x <= TRACK_SECONDS]
        at = [have[i] / max(1, r["track_want"][i]) for i in k if tt[i] <= sc["window"]]
        share = f", {100 * at[-1]:.0f}% at {sc['window']:g} s" if at else ""
        bottom.step([tt[i] for i in k], [have[i] for i in k], where="post",
                    color=colors.get(r["policy"], None), lw=1.8,
                    label=f"got it: {r['policy']}{share} (all messages: "
                          f"{100 * r['reach_at_window']:.1f}% at {sc['window']:g} s, "
                          f"RMR {r['rmr']:.2f})")
    bottom.axvline(sc["window"], color="tab:blue", ls="--", lw=1)
    bottom.text(sc["window"], 0.02, f" {sc['window']:g} s", color="tab:blue",
                transform=bottom.get_xaxis_transform(), fontsize=9)
    bottom.set_xlim(0, TRACK_SECONDS)
    bottom.set_ylim(0, max(want, default=1) * 1.1 + 1)
    bottom.set_xlabel("seconds since the packet was published")
    bottom.set_ylabel("subscribed peers")
    bottom.set_title("reach of one packet against the peers that want it", fontsize=10)
    bottom.legend(loc="lower right", fontsize=8, framealpha=0.9)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
