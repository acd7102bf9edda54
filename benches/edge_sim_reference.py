#!/usr/bin/env python3
"""Straightforward Python version of `mmops edge-sim`'s default rules, the benchmark's yardstick.

Reads a CSV with a header (`ts,edge_bps` raw samples or `ts,ema1h,ema24h`), timestamps in Unix
seconds, and prints `policy_applied_count=N final_profile=NAME windows=N gaps=N` so the benchmark
can check that both implementations agree before comparing their speed.

Rules (the defaults of deploy/edge/sentinel.yaml): 30-minute windows numbered by their close
(ceil(ts / 1800)); the last row of a window counts; Moderate -> Conservative after ema1h < 0.0 at
the close of 3 adjacent windows; Conservative -> Moderate when ema24h >= 1.5 at a close; a gap or a
change restarts the streaks; one change per window. Raw samples are averaged with time-aware EMAs
(tau 1 h and 24 h, weight 1 - exp(-dt/tau), seeded by the first sample).
"""

import math
import sys

WINDOW = 1800
EMA1H_THRESHOLD = 0.0
CONSECUTIVE_WINDOWS = 3
EMA24H_RECOVERY = 1.5
PROFILES = ["Moderate", "Conservative"]


def main(path):
    profile = 0
    streak = 0
    recovery_streak = 0
    last_window = None
    applied = 0
    windows = 0
    gaps = 0
    pending = None  # [window, ema1h, ema24h]
    ema1h = ema24h = None
    last_ts = None

    def close(window, e1, e24):
        nonlocal profile, streak, recovery_streak, last_window, applied, windows, gaps
        if last_window is not None and window > last_window + 1:
            gaps += 1
            streak = 0
            recovery_streak = 0
        last_window = window
        windows += 1
        can_degrade = profile + 1 < len(PROFILES)
        can_recover = profile > 0
        streak = streak + 1 if can_degrade and e1 < EMA1H_THRESHOLD else 0
        recovery_streak = recovery_streak + 1 if can_recover and e24 >= EMA24H_RECOVERY else 0
        if can_degrade and streak >= CONSECUTIVE_WINDOWS:
            profile += 1
        elif can_recover and recovery_streak >= 1:
            profile -= 1
        else:
            return
        streak = 0
        recovery_streak = 0
        applied += 1

    with open(path) as handle:
        header = handle.readline().strip().split(",")
        raw = "edge_bps" in header
        ts_col = header.index("ts")
        if raw:
            edge_col = header.index("edge_bps")
        else:
            e1_col, e24_col = header.index("ema1h"), header.index("ema24h")
        for line in handle:
            fields = line.split(",")
            ts = float(fields[ts_col])
            if raw:
                x = float(fields[edge_col])
                if ema1h is None:
                    ema1h = ema24h = x
                else:
                    dt = ts - last_ts
                    ema1h += (1.0 - math.exp(-dt / 3600.0)) * (x - ema1h)
                    ema24h += (1.0 - math.exp(-dt / 86400.0)) * (x - ema24h)
                last_ts = ts
                e1, e24 = ema1h, ema24h
            else:
                e1, e24 = float(fields[e1_col]), float(fields[e24_col])
            window = math.ceil(ts / WINDOW)
            if pending is not None and pending[0] == window:
                pending[1], pending[2] = e1, e24
                continue
            if pending is not None:
                close(*pending)
            pending = [window, e1, e24]
    if pending is not None:
        close(*pending)
    print(f"policy_applied_count={applied} final_profile={PROFILES[profile]} windows={windows} gaps={gaps}")


if __name__ == "__main__":
    main(sys.argv[1])
