"""Reference cron semantics for the differential test in cron_sentinel.rs: cronsim, the parser
Healthchecks.io uses. Reads a JSON list of {"expression", "zone", "at"} (Unix seconds) on stdin
and prints one JSON list of {"valid", "next", "latest"}: the first start after `at` and the
latest start at or before it, in Unix seconds (null when cronsim finds none)."""

import json
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError


def first(expression, start, reverse):
    try:
        return int(next(CronSim(expression, start, reverse=reverse)).timestamp())
    except StopIteration:
        return None


def evaluate(case):
    zone = ZoneInfo(case["zone"])
    at = datetime.fromtimestamp(case["at"], tz=timezone.utc).astimezone(zone)
    try:
        after = first(case["expression"], at, False)
        latest = first(case["expression"], (at.astimezone(timezone.utc) + timedelta(seconds=1)).astimezone(zone), True)
    except CronSimError:
        return {"valid": False, "next": None, "latest": None}
    return {"valid": True, "next": after, "latest": latest}


json.dump([evaluate(case) for case in json.load(sys.stdin)], sys.stdout)
