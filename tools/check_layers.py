#!/usr/bin/env python3
"""Holds every #include of a layered folder to the folders it may use.

Each argument FOLDER=USE1,USE2 names a folder (nat, control/api, dataplane/worker, ...) and the
folders its library uses (its meson.build's layer_uses entry). A file in FOLDER may include
headers of FOLDER itself and of any folder reachable through the uses lists; any other project
header (another layer, or tools/, bench/, tests/) is an error, printed as file:line with the rule
it breaks. Exit status 1 on an error, so the build fails.
"""
import argparse
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
PROJECT_ROOTS = ("nat/", "lb/", "control/", "dataplane/", "tools/", "bench/", "tests/")


def closure(folder, uses):
    seen, stack = set(), [folder]
    while stack:
        f = stack.pop()
        if f in seen:
            continue
        seen.add(f)
        stack.extend(uses.get(f, []))
    return seen


def owner(path, folders):
    """The layered folder a repository path belongs to (the longest matching prefix)."""
    best = None
    for f in folders:
        if path.startswith(f + "/") and (best is None or len(f) > len(best)):
            best = f
    return best


def check(root, uses):
    errors = []
    folders = sorted(uses)
    for folder in folders:
        allowed = closure(folder, uses)
        for source in sorted((root / folder).glob("*")):
            if source.suffix not in (".h", ".cc", ".def"):
                continue
            rel = source.relative_to(root).as_posix()
            for number, line in enumerate(source.read_text().splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or not m.group(1).startswith(PROJECT_ROOTS):
                    continue
                target = owner(m.group(1), folders)
                if target is None:
                    errors.append(f"{rel}:{number}: includes {m.group(1)}, which is outside "
                                  f"every library folder ({folder} may use {', '.join(sorted(allowed))})")
                elif target not in allowed:
                    errors.append(f"{rel}:{number}: includes {m.group(1)}, but {folder} may use "
                                  f"only {', '.join(sorted(allowed))} (add {target} to its "
                                  f"layer_uses, or move the code)")
    # Every folder with sources under a declared area must be declared, or its files escape the
    # check (a build that skips an area, as the TSan build skips dataplane/, declares none of it).
    areas = {f.split("/")[0] for f in folders}
    for path in sorted(root.glob("*/*/")) + sorted(root.glob("*/")):
        rel = path.relative_to(root).as_posix().rstrip("/")
        if rel.split("/")[0] in areas and rel not in uses and any(path.glob("*.cc")):
            errors.append(f"{rel}: a folder with sources but no layer_uses entry")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=pathlib.Path)
    parser.add_argument("--stamp", type=pathlib.Path)
    parser.add_argument("layers", nargs="*", help="FOLDER=USE1,USE2")
    args = parser.parse_args()
    uses = {}
    for item in args.layers:
        folder, _, deps = item.partition("=")
        uses[folder] = [d for d in deps.split(",") if d]
    errors = check(args.root, uses)
    for e in errors:
        print(f"layering: {e}", file=sys.stderr)
    if errors:
        return 1
    if args.stamp:
        args.stamp.write_text("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
