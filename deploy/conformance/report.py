#!/usr/bin/python3
"""The conformance table: every test of the suite → pass / fail / skip, and the gate.

Reads the subunit stream of one `tempest run` (python3-subunit parses it), the list of every test the suite has
(`stestr list`, so a test that never ran because its class setup failed is still shown) and the required list
(one test name per line, `#` comments). Prints one line per test with the first failing request (from tempest's
request log in the test's details) or the skip reason, then a summary. Exits 1 when a required test did not pass
or is not in the suite, 0 otherwise.
"""

import argparse
import re
import sys

import subunit
import testtools

ATTRS = re.compile(r"\[.*\]$")
CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((?P<cls>[\w.]+)\)$")
REQUEST = re.compile(r"Request \([^)]*\): (?P<code>\d{3}) (?P<method>[A-Z]+) (?P<url>\S+)")


def name_of(test_id):
    """The test's dotted name without tempest's [id-…,attr] suffix."""
    return ATTRS.sub("", test_id.strip())


def text(details, key):
    part = details.get(key)
    if part is None:
        return ""
    try:
        return "".join(chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
                       for chunk in part.iter_bytes())
    except Exception:  # a detail that is not text
        return ""


def first_failing_request(details):
    """The request most likely to explain a failure: first 5xx, else first non-GET 4xx, else first 4xx but 404."""
    logs = "".join(text(details, k) for k in details if k.startswith("pythonlogging"))
    reqs = [m for m in REQUEST.finditer(logs) if int(m.group("code")) >= 400]
    for pick in (lambda m: int(m.group("code")) >= 500,
                 lambda m: m.group("method") != "GET",
                 lambda m: m.group("code") != "404"):
        for m in reqs:
            if pick(m):
                url = re.sub(r"^https?://[^/]+", "", m.group("url"))
                return f"{m.group('code')} {m.group('method')} {url}"
    return ""


def reason(details):
    tb = [line.strip() for line in text(details, "traceback").splitlines()]
    tb = [line for line in tb if line and not line.startswith("(Background on this error")]
    last = tb[-1] if tb else text(details, "reason").strip()
    return " ".join(last.split())[:200]


def note(details):
    req = first_failing_request(details)
    why = reason(details)
    return f"{req} — {why}" if req and why else req or why


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tests", required=True, help="every test of the suite, one id per line (stestr list)")
    ap.add_argument("--required", required=True, help="the tests that must pass")
    ap.add_argument("--partial", action="store_true",
                    help="the run selected part of the suite: required tests outside it are not gate failures")
    ap.add_argument("stream", help="subunit v2 stream of the run")
    args = ap.parse_args()

    with open(args.tests) as f:
        suite = [name_of(line) for line in f if line.strip().startswith("trove_tempest_plugin.")]
    with open(args.required) as f:
        required = [line.split("#", 1)[0].strip() for line in f]
    required = [r for r in required if r]

    results, class_failures = {}, {}

    def on_test(t):
        status, details = t["status"], t["details"]
        if status in ("exists", "inprogress"):
            return
        fixture = CLASS_FIXTURE.match(t["id"])
        if fixture:
            if status not in ("success", "skip"):
                class_failures[fixture.group("cls")] = (fixture.group(1), note(details))
            elif status == "skip":
                class_failures.setdefault(fixture.group("cls"), ("skip", reason(details)))
            return
        outcome = {"success": "pass", "skip": "skip", "xfail": "pass"}.get(status, "fail")
        results[name_of(t["id"])] = (outcome, "" if outcome == "pass" else note(details))

    with open(args.stream, "rb") as f:
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout").run(result)
        result.stopTestRun()

    rows = []
    for name in sorted(set(suite) | set(results)):
        cls = name.rsplit(".", 1)[0]
        if name in results:
            outcome, why = results[name]
        elif cls in class_failures and class_failures[cls][0] == "skip":
            outcome, why = "skip", class_failures[cls][1]
        elif cls in class_failures:
            outcome, why = "fail", f"{class_failures[cls][0]}: {class_failures[cls][1]}"
        else:
            outcome, why = "fail", "did not run (no result in the stream)"
        rows.append((name, outcome, why))

    # One row per class for its setUpClass, so the gate can require a class's setup (the instance it builds)
    # before any of its tests can pass.
    for cls in sorted({n.rsplit(".", 1)[0] for n in suite}):
        if cls in class_failures and class_failures[cls][0] == "setUpClass":
            rows.append((cls + ".setUpClass", "fail", class_failures[cls][1]))
        elif cls in class_failures and class_failures[cls][0] == "skip":
            rows.append((cls + ".setUpClass", "skip", class_failures[cls][1]))
        elif any(n.rsplit(".", 1)[0] == cls and results[n][0] != "skip" for n in results):
            rows.append((cls + ".setUpClass", "pass", ""))
        else:
            rows.append((cls + ".setUpClass", "skip", "no test of the class ran"))
    rows.sort()

    by_name = {r[0]: r[1] for r in rows}
    short = lambda n: n.replace("trove_tempest_plugin.tests.scenario.", "")
    width = max(len(short(r[0])) for r in rows) if rows else 10
    print(f"{'test':<{width}}  {'result':<6} req  first failing request / reason")
    for name, outcome, why in rows:
        mark = "yes" if name in required else ""
        print(f"{short(name):<{width}}  {outcome:<6} {mark:<4} {why}")

    counts = {k: sum(1 for r in rows if r[1] == k) for k in ("pass", "fail", "skip")}
    missing = [r for r in required if r not in by_name]
    if args.partial:
        if missing:
            print(f"(partial run: {len(missing)} required test(s) not selected)")
        required = [r for r in required if r in by_name]
        missing = []
    broken = [r for r in required if by_name.get(r) not in (None, "pass")]
    print(f"\n{len(rows)} tests: {counts['pass']} pass, {counts['fail']} fail, {counts['skip']} skip; "
          f"required {len(required)}: {len(required) - len(broken) - len(missing)} pass")
    for r in missing:
        print(f"GATE: required test {r} is not in the suite (renamed? fix {args.required})")
    for r in broken:
        print(f"GATE: required test {r}: {by_name[r]}")
    return 1 if missing or broken else 0


if __name__ == "__main__":
    sys.exit(main())
