"""Run the fuzz targets for a while (``nox -s fuzz``; see ``docs/fuzzing.md``).

    python fuzz/run.py --target parser|fetch-diff|imapclient-diff|router|commands|c-vs-python|all
                       [--minutes N] [--seed S] [--engine auto|atheris|builtin]
    python fuzz/run.py --target parser --replay FILE...   # rerun saved inputs

``--minutes`` is the whole budget, shared equally by the chosen targets.  With
atheris installed (``pip install atheris``) each target runs coverage-guided in
a libFuzzer child process; otherwise the built-in IMAP-aware mutation engine
(:mod:`fuzz.mutator`) runs in this process.  Oracle violations and crashes do
not stop the run: each new one (by exception type and place) is saved under
``--findings`` (default ``fuzz/findings/<target>/``) as the input bytes plus a
``.txt`` with the traceback.  Fixing one means copying the ``.bin`` into
``tests/data/fuzz_regressions/<target>/``, where the default test run replays it.
Exits 1 if anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_NAMES = ("parser", "fetch-diff", "imapclient-diff", "router", "commands", "c-vs-python")
PER_INPUT_SECONDS = 10  # an input that takes longer is a hang


class Hang(Exception):
    """An input took longer than PER_INPUT_SECONDS."""


def signature(exc: BaseException) -> str:
    """What makes two findings the same bug: the exception type, the innermost
    frame in pipeimap (or the oracle), and for oracle violations the message's
    first words."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = "?"
    for fr in reversed(frames):
        if "pipeimap" in fr.filename or "fuzz" in fr.filename:
            where = f"{Path(fr.filename).name}:{fr.name}:{fr.lineno}"
            break
    text = str(exc).split("\n", 1)[0]
    text = text.split(":", 1)[0][:40] if type(exc).__name__ == "Finding" else ""
    return f"{type(exc).__name__}@{where}:{text}"


class Recorder:
    """Saves each new finding of one target (input + traceback)."""

    def __init__(self, target: str, findings: Path) -> None:
        self.target = target
        self.dir = findings / target
        self.seen: set[str] = set()
        self.count = 0
        for meta in self.dir.glob("*.txt"):
            first = meta.read_text(errors="replace").split("\n", 1)[0]
            self.seen.add(first.removeprefix("signature: "))

    def record(self, data: bytes, exc: BaseException) -> bool:
        self.count += 1
        sig = signature(exc)
        if sig in self.seen:
            return False
        self.seen.add(sig)
        self.dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16]
        (self.dir / f"{name}.bin").write_bytes(data)
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (self.dir / f"{name}.txt").write_text(
            f"signature: {sig}\ntarget: {self.target}\n\n{tb[-6000:]}", errors="replace"
        )
        print(f"[{self.target}] NEW FINDING {name}: {sig}", flush=True)
        return True


# --- the built-in engine ------------------------------------------------------------------


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hang(f"input took more than {PER_INPUT_SECONDS} s")


def run_builtin(target: str, seconds: float, seed: int, findings: Path) -> dict[str, Any]:
    from fuzz.mutator import Mutator
    from fuzz.seeds import DICTIONARY, seeds
    from fuzz.targets import TARGETS

    check: Callable[[bytes], None] = TARGETS[target]
    rec = Recorder(target, findings)
    mut = Mutator(seeds(target), DICTIONARY, seed)
    signal.signal(signal.SIGALRM, _alarm)
    start = time.monotonic()
    deadline = start + seconds
    last = start
    execs = 0
    new = 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if now - last >= 30:
            last = now
            print(
                f"[{target}] {execs} execs, {execs / (now - start):.0f}/s, "
                f"corpus {len(mut.corpus)}, findings {rec.count} ({new} new)",
                flush=True,
            )
        data = mut.next()
        signal.setitimer(signal.ITIMER_REAL, PER_INPUT_SECONDS)
        try:
            check(data)
        except Exception as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            new += rec.record(data, exc)
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if mut.rng.random() < 0.01:
                mut.add(data)
        execs += 1
    elapsed = time.monotonic() - start
    return {
        "target": target,
        "engine": "builtin",
        "execs": execs,
        "seconds": elapsed,
        "findings": rec.count,
        "new": new,
    }


# --- the atheris engine (one libFuzzer child per target) --------------------------------


def _dict_line(token: bytes) -> str:
    body = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token
    )
    return f'"{body}"'


def run_atheris_worker(target: str, seconds: int, seed: int, findings: Path, work: Path) -> None:
    atheris: Any = importlib.import_module("atheris")
    with atheris.instrument_imports(include=["pipeimap", "fuzz"]):
        from fuzz.seeds import DICTIONARY, seeds
        from fuzz.targets import TARGETS
    check = TARGETS[target]
    rec = Recorder(target, findings)
    corpus = work / "corpus" / target
    if not corpus.is_dir() or not any(corpus.iterdir()):
        corpus.mkdir(parents=True, exist_ok=True)
        for data in seeds(target):
            (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    dict_file = work / "imap.dict"
    dict_file.write_text("\n".join(_dict_line(t) for t in DICTIONARY) + "\n")
    artifacts = findings / target
    artifacts.mkdir(parents=True, exist_ok=True)
    state = {"execs": 0}

    def one(data: bytes) -> None:
        state["execs"] += 1
        try:
            check(data)
        except Exception as exc:
            rec.record(data, exc)

    args = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        f"-timeout={PER_INPUT_SECONDS}",
        f"-seed={seed}",
        f"-dict={dict_file}",
        "-max_len=65536",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    atheris.Setup(args, one)
    atheris.Fuzz()


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def run_atheris(
    target: str, seconds: float, seed: int, findings: Path, work: Path
) -> dict[str, Any]:
    start = time.monotonic()
    deadline = start + seconds
    execs = 0
    crashes = 0
    log_path = work / f"{target}.log"
    work.mkdir(parents=True, exist_ok=True)
    before = _count(findings / target)
    while (left := int(deadline - time.monotonic())) >= 5:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            target,
            "--seconds",
            str(left),
            "--seed",
            str(seed + crashes),
            "--findings",
            str(findings),
            "--work",
            str(work),
        ]
        with log_path.open("a") as log:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
        text = log_path.read_text(errors="replace")
        done = _DONE.findall(text)
        if done:
            execs += int(done[-1][0])
        if proc.returncode != 0:
            crashes += 1  # a hang, a crash of the interpreter, out of memory: artifact saved
            print(
                f"[{target}] libFuzzer child exited {proc.returncode}; see {log_path}", flush=True
            )
            log_path.rename(log_path.with_suffix(f".{crashes}.log"))
            if crashes > 20:
                break
        else:
            break
    elapsed = time.monotonic() - start
    new = _count(findings / target) - before
    return {
        "target": target,
        "engine": "atheris",
        "execs": execs,
        "seconds": elapsed,
        "findings": new + crashes,
        "new": new,
        "child_crashes": crashes,
    }


def _count(directory: Path) -> int:
    return sum(1 for p in directory.glob("*") if p.suffix == ".bin" or "-" in p.name)


# --- replay -----------------------------------------------------------------------------


def replay(target: str, files: list[str]) -> int:
    from fuzz.targets import TARGETS

    bad = 0
    for name in files:
        data = Path(name).read_bytes()
        try:
            TARGETS[target](data)
        except Exception:
            bad += 1
            print(f"{name}: FAILS")
            traceback.print_exc()
        else:
            print(f"{name}: ok")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--target", default="all", choices=(*TARGET_NAMES, "all"))
    ap.add_argument("--minutes", type=float, default=5.0, help="total budget (all targets)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--engine", default="auto", choices=("auto", "atheris", "builtin"))
    ap.add_argument("--findings", type=Path, default=ROOT / "fuzz" / "findings")
    ap.add_argument("--work", type=Path, default=ROOT / "fuzz" / "work")
    ap.add_argument("--json", type=Path, help="write the run's statistics here")
    ap.add_argument("--replay", nargs="+", metavar="FILE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=int, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        run_atheris_worker(args.worker, args.seconds, args.seed, args.findings, args.work)
        return 0
    targets = TARGET_NAMES if args.target == "all" else (args.target,)
    if args.replay:
        if len(targets) != 1:
            ap.error("--replay needs one --target")
        return replay(targets[0], args.replay)
    engine = args.engine
    if engine == "auto":
        try:
            importlib.import_module("atheris")
            engine = "atheris"
        except ImportError:
            engine = "builtin"
    seconds = args.minutes * 60 / len(targets)
    print(
        f"fuzzing {', '.join(targets)} with {engine}, {seconds:.0f} s each, seed {args.seed}",
        flush=True,
    )
    results = []
    for t in targets:
        if engine == "atheris":
            res = run_atheris(t, seconds, args.seed, args.findings, args.work)
        else:
            res = run_builtin(t, seconds, args.seed, args.findings)
        rate = res["execs"] / max(res["seconds"], 1e-9)
        print(
            f"[{t}] done: {res['execs']} execs in {res['seconds']:.0f} s "
            f"({rate:.0f}/s), {res['findings']} findings ({res['new']} new)",
            flush=True,
        )
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    found = sum(r["new"] for r in results)
    if found:
        print(f"{found} new findings under {args.findings}", flush=True)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
