#!/usr/bin/env python3
"""The module and the binary agree (issues 11.2 and 16.1).

Reads the JSON of `cases.nix`'s `corpus` ({name: {toml, assertions, pending}})
on stdin, writes each rendered config.toml to a file, runs
`IMPERMCTL verify --config FILE --mountinfo MOUNTINFO` and checks:

- the binary accepts the file (no `impermctl: error:` line) and the module
  has no failed assertion; or
- the binary refuses it (the whole file, or entries and blocks one by one)
  and every explanation it gives (the message after the field name, without
  line numbers and without what follows a colon) is contained in one of the
  module's failed assertions.

Prints `ok corpus NAME`, `pending corpus NAME: …` (a disagreement the case's
`pending` marker expects) or `FAIL corpus NAME: …`; exits 1 on any FAIL.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

# `impermctl: error: [refusing the entry E: ]FILE:LINE:COL: FIELD: MESSAGE`;
# an entry refused with its block repeats the block's error: skipped.
ERROR = re.compile(r"^impermctl: error: (?:(?:refusing|ignoring) [^:]*: )?[^:]*:\d+:\d+: [^:]+: (.*)$")
WITH_BLOCK = "is refused with its [[persistence]] block"


def explanation(message):
    message = re.sub(r"\s*\(lines? \d+[^)]*\)", "", message)
    return message.split(": ")[0].strip()


def verdict(binary, mountinfo, path):
    out = subprocess.run(
        [binary, "verify", "--config", path, "--mountinfo", mountinfo],
        capture_output=True,
        text=True,
    )
    lines = [l for l in out.stderr.splitlines() if l.startswith("impermctl: error:") and WITH_BLOCK not in l]
    errors = [(m.group(1) if m else l) for l, m in zip(lines, map(ERROR.match, lines))]
    return errors, out


def check(name, case, binary, mountinfo, work):
    toml, module = case["toml"], case["assertions"]
    if toml is None:
        return f"the module rendered no config.toml (assertions: {module})"
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(toml)
    errors, out = verdict(binary, mountinfo, path)
    if not errors:
        if module:
            return f"the binary accepts {path}, the module refuses it: {module}"
        return None
    missing = [e for e in errors if not any(explanation(e) in a for a in module)]
    if not module:
        return f"the module accepts it, the binary refuses {path}: {out.stderr.strip()}"
    if missing:
        return f"the binary's explanation {missing} is not in the module's assertions {module}"
    return None


def main():
    binary, mountinfo = sys.argv[1], sys.argv[2]
    corpus = json.load(sys.stdin)
    failed = False
    with tempfile.TemporaryDirectory() as work:
        for name in sorted(corpus):
            case = corpus[name]
            problem = check(name, case, binary, mountinfo, work)
            if problem is None:
                print(f"ok corpus {name}")
            elif case.get("pending"):
                print(f"pending corpus {name} (waits for {case['pending']}): {problem}")
            else:
                print(f"FAIL corpus {name}: {problem}")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
