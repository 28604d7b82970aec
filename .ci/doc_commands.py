#!/usr/bin/env python3
"""Runs every shell command that README.md and docs/*.md show (their ```sh blocks), as written,
in the order the pages show them: a command in the docs that does not work fails CI.

- A command that `.ci/run` itself runs verbatim is not run twice (it is named as already run).
- Commands that run until stopped (a service, a dashboard) are started, must print and still be
  running after a moment, and are stopped at the end of their block; the commands after them in
  the block run against them.
- `capvault`, `python` and `pip` are the ones on PATH: CI puts target/release and the test
  virtual environment first.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the pages say to run first: README's "Look at a running vault" commands read the mirrors
# and the latency log this example writes.
PREPARE = ["cargo run --release --example shared_pool"]
# Commands that run until stopped, by their start: how long they get to show they are working.
UNTIL_STOPPED = {
    "cargo run --release --example serve": 60.0,  # waits for its "serving" line
    "capvault serve ": 30.0,  # waits for its "ready" line
    "nats-server -c ": 2.0,
    "capvault watch ": 2.0,
    "cargo run --release --bin capvault -- watch ": 2.0,
}


def commands(page: Path) -> list[list[str]]:
    """The page's sh blocks, each a list of commands (continuations joined, comments cut)."""
    blocks = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", page.read_text(), re.S):
        text = block.replace("\\\n", " ")
        lines = []
        for line in text.splitlines():
            line = " ".join(re.sub(r"\s{2,}#.*$", "", line).split())
            if line and not line.startswith("#"):
                lines.append(line)
        blocks.append(lines)
    return blocks


def run_block(block: list[str], ci_lines: set[str]) -> None:
    background = []
    try:
        for command in block:
            if command in ci_lines:
                print(f"-- {command}\n   (run verbatim by .ci/run)")
                continue
            wait = next((s for prefix, s in UNTIL_STOPPED.items() if command.startswith(prefix)), None)
            print(f"-- {command}", flush=True)
            if wait is None:
                started = time.monotonic()
                done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
                    sys.exit(f"doc command failed ({done.returncode}): {command}")
                print(f"   ok in {time.monotonic() - started:.1f} s, {len(done.stdout.splitlines())} lines")
                continue
            process = subprocess.Popen(
                command, shell=True, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                start_new_session=True,
            )
            background.append(process)
            first = process.stdout.readline() if wait > 10 else ""
            if wait <= 10:
                time.sleep(wait)
            if process.poll() is not None:
                rest = process.stdout.read()
                sys.exit(f"doc command ended ({process.returncode}) instead of running: {command}\n{first}{rest}")
            if wait > 10 and not first:
                sys.exit(f"doc command printed nothing: {command}")
            print(f"   running (until the block ends){': ' + first.strip() if first else ''}")
    finally:
        for process in background:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
            out = process.stdout.read() if process.stdout else ""
            if "watch" in (process.args or "") and not out.strip():
                sys.exit(f"doc command printed no frame: {process.args}")


def main() -> None:
    ci_lines = {" ".join(line.split()) for line in (ROOT / ".ci" / "run").read_text().splitlines()}
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    count = 0
    for command in PREPARE:
        print(f"== prepare: {command}")
        subprocess.run(command, shell=True, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    for page in pages:
        for block in commands(page):
            print(f"== {page.relative_to(ROOT)}")
            run_block(block, ci_lines)
            count += len(block)
    print(f"== every documented command ran ({count})")


if __name__ == "__main__":
    main()
