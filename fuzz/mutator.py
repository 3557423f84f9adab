"""The built-in mutation engine (used when atheris is not installed, or on request).

Not coverage-guided, but IMAP-aware: byte flips, deletions, duplications,
splices between corpus items, token insertions from an IMAP dictionary
(literals, parentheses, NIL, quoted strings, CRLF, huge numbers, deep nesting)
and literal-count edits.  Inputs that raise nothing are added back to the
corpus now and then, so mutations stack.
"""

from __future__ import annotations

import random
import re

__all__ = ["Mutator"]

_NUMBER = re.compile(rb"[0-9]+")
_MAX_LEN = 64 * 1024


class Mutator:
    def __init__(self, corpus: list[bytes], dictionary: tuple[bytes, ...], seed: int) -> None:
        self.corpus = list(corpus) or [b"\x00"]
        self.dictionary = dictionary
        self.rng = random.Random(seed)

    def add(self, data: bytes) -> None:
        if len(self.corpus) < 20_000:
            self.corpus.append(data)
        else:
            self.corpus[self.rng.randrange(len(self.corpus))] = data

    def next(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.corpus))
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5, 8))):
            self._mutate_once(data)
        return bytes(data[:_MAX_LEN])

    def _pos(self, data: bytearray) -> int:
        # Skip the control byte most of the time: it picks the configuration.
        if len(data) <= 1 or self.rng.random() < 0.02:
            return self.rng.randrange(len(data) + 1)
        return self.rng.randrange(1, len(data) + 1)

    def _mutate_once(self, data: bytearray) -> None:
        rng = self.rng
        op = rng.randrange(11)
        pos = self._pos(data)
        if op == 0 and pos < len(data):  # flip a bit
            data[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and pos < len(data):  # random byte
            data[pos] = rng.randrange(256)
        elif op == 2:  # delete a run
            del data[pos : pos + rng.choice((1, 1, 2, 4, 16, 64))]
        elif op in (3, 4, 5):  # dictionary token
            data[pos:pos] = rng.choice(self.dictionary)
        elif op == 6:  # duplicate a run
            n = rng.choice((1, 4, 16, 200))
            data[pos:pos] = data[pos : pos + n] * rng.choice((1, 2, 8))
        elif op == 7:  # splice: a piece of another corpus item
            other = rng.choice(self.corpus)
            if other:
                a = rng.randrange(len(other))
                data[pos:pos] = other[a : a + rng.choice((8, 64, 512, 4096))]
        elif op == 8:  # change a number (literal counts, UIDs, sequence numbers)
            nums = list(_NUMBER.finditer(data))
            if nums:
                m = rng.choice(nums)
                value = int(m.group())
                new = rng.choice(
                    (value + 1, max(value - 1, 0), 0, 2**32 - 1, 2**32, 2**63, value * 1000)
                )
                data[m.start() : m.end()] = str(new).encode()
        elif op == 9:  # deep nesting
            depth = rng.choice((2, 16, 65, 400, 2000))
            data[pos:pos] = b"(" * depth + b")" * rng.choice((0, depth))
        elif op == 10 and data:  # cross-over: keep a prefix, take another's suffix
            other = rng.choice(self.corpus)
            cut = rng.randrange(len(other) + 1)
            del data[pos:]
            data += other[cut:]
