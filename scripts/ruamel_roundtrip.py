#!/usr/bin/env python3
"""Round-trip YAML files through ruamel.yaml the way its users configure it.

This is the comparison side of scripts/bench-edit-check: for every file given
on the command line it loads the document in round-trip mode and dumps it
back to memory, then counts how many files come back byte-identical.

Usage: scripts/ruamel_roundtrip.py [-v] FILE...

  -v  also name, on stderr, every file that does not come back identical

Output (stdout, last line): ``ruamel: N files, N identical``.
A file that ruamel.yaml refuses to load (duplicate merge keys, say) counts
as failed and is named on stderr; it is not identical.
Exit status: 0 when every file came back identical, 1 when some did not
(or failed), 2 on usage errors -- the same convention as
``gitops-migrate edit check``.
"""

import io
import sys

try:
    from ruamel.yaml import YAML
except ImportError:
    sys.stderr.write("ruamel_roundtrip.py: ruamel.yaml is not installed "
                     "(pip install ruamel.yaml)\n")
    sys.exit(2)


def make_yaml() -> YAML:
    """The settings a careful user of ruamel.yaml would pick for Helm values."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def main(argv: list[str]) -> int:
    verbose = False
    paths = []
    for arg in argv:
        if arg == "-v":
            verbose = True
        elif arg in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            paths.append(arg)
    if not paths:
        sys.stderr.write("usage: ruamel_roundtrip.py [-v] FILE...\n")
        return 2

    yaml = make_yaml()
    identical = 0
    errors = 0
    for path in paths:
        with open(path, "rb") as f:
            original = f.read()
        try:
            # Multi-document files (---) are loaded and dumped as a stream.
            docs = list(yaml.load_all(original.decode("utf-8")))
            out = io.StringIO()
            if len(docs) == 1:
                yaml.dump(docs[0], out)
            else:
                yaml.dump_all(docs, out)
        except Exception as exc:  # noqa: BLE001 - report and go on
            errors += 1
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            sys.stderr.write(f"{path}: {type(exc).__name__}: {first_line}\n")
            continue
        if out.getvalue().encode("utf-8") == original:
            identical += 1
        elif verbose:
            sys.stderr.write(f"{path}: differs after round trip\n")

    print(f"ruamel: {len(paths)} files, {identical} identical"
          + (f", {errors} failed" if errors else ""))
    return 0 if identical == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
