#!/usr/bin/env python3
"""Runs each executable given as an argument twice: with --help it must print its usage on
stdout (non-empty, containing "usage") and exit 0; with an unknown option it must print a message
on stderr and exit 2. Prints one line per check; exit status 1 if any failed."""
import subprocess
import sys

UNKNOWN = "--no-such-option-for-privlink"


def run(binary, arg):
    return subprocess.run([binary, arg], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def main(binaries):
    failures = []
    for binary in binaries:
        name = binary.rsplit("/", 1)[-1]
        help_run = run(binary, "--help")
        problems = []
        if help_run.returncode != 0:
            problems.append(f"exit status {help_run.returncode}, want 0")
        if "usage" not in help_run.stdout.lower():
            problems.append("no usage on stdout")
        print(f"{name} --help: {'; '.join(problems) or 'ok'}")
        failures += [f"{name} --help: {p}" for p in problems]

        bad = run(binary, UNKNOWN)
        problems = []
        if bad.returncode != 2:
            problems.append(f"exit status {bad.returncode}, want 2")
        if not bad.stderr.strip():
            problems.append("nothing on stderr")
        print(f"{name} {UNKNOWN}: {'; '.join(problems) or 'ok'}")
        failures += [f"{name} {UNKNOWN}: {p}" for p in problems]
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
