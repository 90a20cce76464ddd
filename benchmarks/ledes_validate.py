"""Benchmark: validating a large LEDES 1998B file, end to end.

Generates a seeded 1,000,000-line file (20,000 invoices of about 50 lines; --quick: 100,000
lines) and times, in the same run:
  - triad: the whole `triad ledes validate FILE --json` process, start-up included (best of 3);
  - floor: a bare Python process that reads the file and splits every line on '|' (best of 3);
  - peer:  the PyPI `ledes-parser` package parsing the first 20,000 lines (parse call only).
Prints the figures, last, as one JSON line. Targets (issue 3): >= 500,000 lines/s, <= 3x the
floor, >= 50x faster per line than the peer, peak memory < 600 MB (the triad process's own peak,
measured per run; this process stays small so that it does not count towards its children's peaks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
PY = sys.executable
TRIAD = str(Path(PY).with_name("triad"))

FLOOR = (
    "import sys\n"
    "n = 0\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        line.split(b'|')\n"
    "        n += 1\n"
    "print(n)\n"
)


GENERATE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from triad.ledes.sample import generate_1998b\n"
    "Path(sys.argv[1]).write_bytes(generate_1998b(invoices=int(sys.argv[2]), lines_per_invoice=50, seed=1998))\n"
)


def make_file(invoices: int) -> Path:
    # generated in a child process: a child's peak memory (ru_maxrss) starts from its parent's at
    # the time it is started, so this process must stay small for the measured peaks to be the
    # children's own
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ledes_1998b_{invoices}.txt"
    if not path.exists():
        subprocess.run([PY, "-c", GENERATE, str(path), str(invoices)], check=True)
    return path


def timed(cmd: list[str], runs: int) -> tuple[float, str, float]:
    """Best wall time of ``runs`` runs, the output, and the largest peak memory (MB) of the runs."""
    best, out, peak = float("inf"), "", 0.0
    for _ in range(runs):
        with tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
            stdout = proc.stdout.read()
            # this child's own resource use (RUSAGE_CHILDREN would be the maximum over every child)
            _, status, usage = os.wait4(proc.pid, 0)
            best = min(best, time.perf_counter() - t)
            proc.stdout.close()
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = max(peak, usage.ru_maxrss / 1024)
            out = stdout.decode()
            if proc.returncode not in (0, 1):
                err.seek(0)
                raise SystemExit(f"{cmd[0]} failed: {err.read().decode()[-2000:]}")
    return best, out, peak


def peer_seconds_per_line(path: Path, n_lines: int = 20_000) -> float | None:
    try:
        import ledes_parser
    except ImportError:
        return None
    with path.open("rb") as fh:
        head = b"".join(fh.readline() for _ in range(n_lines)).decode()
    parser = ledes_parser.get_parser("LEDES98B")
    t = time.perf_counter()
    parser.parse(head)
    return (time.perf_counter() - t) / (n_lines - 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 lines instead of 1,000,000")
    args = ap.parse_args()
    invoices = 2_000 if args.quick else 20_000
    path = make_file(invoices)
    lines = sum(1 for _ in path.open("rb")) - 2

    floor_s, _, floor_mb = timed([PY, "-c", FLOOR, str(path)], 3)
    triad_s, out, peak_mb = timed([TRIAD, "ledes", "validate", str(path), "--json"], 3)
    report = json.loads(out)["files"][0]
    if not report["valid"] or report["lines"] != lines:
        raise SystemExit(f"validation result unexpected: valid={report['valid']} lines={report['lines']}")
    peer = peer_seconds_per_line(path)
    result = {
        "scenario": "ledes_validate",
        "lines": lines,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "triad_s": round(triad_s, 3),
        "floor_s": round(floor_s, 3),
        "lines_per_s": int(lines / triad_s),
        "ratio_to_floor": round(triad_s / floor_s, 2),
        "ratio_to_peer": round(peer / (triad_s / lines), 1) if peer else None,
        "peak_rss_mb": round(peak_mb),
        "floor_peak_rss_mb": round(floor_mb),
    }
    print(f"triad ledes validate: {result['lines_per_s']:,} lines/s ({triad_s:.2f} s for {lines:,} lines); "
          f"floor {floor_s:.2f} s; peer {'%.0f' % (1 / peer) if peer else 'n/a'} lines/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
