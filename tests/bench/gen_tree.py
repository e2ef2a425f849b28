#!/usr/bin/env python3
"""gen_tree.py DIR [--scale N]: the build context of tests/bench/run's copy500.

Deterministic (a seeded generator, fixed modes and mtimes), so every run and
every machine copies the same bytes. At scale 1 (about 520 MB):

- src/dNN/fileNNNN.c: 10,000 small files of source-like text, 200 B to 8 KiB,
  in 100 directories;
- blobs/text-NNN.txt: 150 files of 1 MiB of source-like text (gzip -6 keeps
  about a fifth);
- blobs/rand-NNN.bin: 100 files of 1 MiB of random bytes (media: do not
  compress);
- blobs/lib-NNN.so: 100 files of 1 MiB shaped like machine code (bytes of
  a skewed distribution, runs of zeros: gzip keeps about 70 %);
- blobs/pack-NNN.gz: 100 gzip files (already compressed) of 1 MiB of text,
  about 230 KB each;
- big/text-N.txt, big/rand-N.bin: four 20 MiB files, two of each kind.

--scale N divides every count by N (at least one file of each kind), for a
quick run. Prints the number of files and bytes written.
"""
import argparse
import gzip
import os
import random

MTIME = 1700000000
WORDS = (
    "static int return if else for while struct const char void size_t err buf len "
    "data next NULL unsigned uint64_t cb_error_t goto out free malloc memcpy sizeof "
    "cb_buf_add cb_error_set errno open close read write fd path name entry layer"
).split()


def text(rng, n):
    """About n bytes of C-like lines (exactly n: the last line is cut)."""
    lines = []
    size = 0
    while size < n:
        indent = "    " * rng.randrange(4)
        words = rng.choices(WORDS, k=rng.randrange(2, 10))
        if rng.random() < 0.3:
            words.append("v%d" % rng.randrange(10000))
        end = ";" if rng.random() < 0.75 else " {"
        line = "%s%s%s\n" % (indent, " ".join(words), end)
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[:n]


def binary(rng, n):
    """n bytes with the statistics of machine code: random bytes of which
    five in eight are mapped onto a dozen common opcode bytes, and a 64-byte
    run of zeros (padding, tables) every KiB on average."""
    common = [0x00, 0x48, 0x89, 0x8B, 0xE8, 0xFF, 0x0F, 0x85, 0x74, 0xC3, 0x01, 0x24]
    table = bytes(common[v % len(common)] if v < 160 else v for v in range(256))
    out = bytearray(rng.randbytes(n).translate(table))
    for _ in range(n // 1024):
        at = rng.randrange(max(1, n - 64))
        out[at:at + 64] = bytes(64)
    return bytes(out[:n])


def write(path, data, counts):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    os.utime(path, (MTIME, MTIME))
    counts[0] += 1
    counts[1] += len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--scale", type=int, default=1)
    a = ap.parse_args()
    s = max(1, a.scale)
    rng = random.Random(20240601)
    counts = [0, 0]
    root = a.dir
    os.makedirs(root, exist_ok=True)

    nsmall = max(1, 10000 // s)
    ndirs = max(1, 100 // s)
    for i in range(nsmall):
        d = os.path.join(root, "src", "d%02d" % (i % ndirs))
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "file%04d.c" % i), text(rng, rng.randrange(200, 8192)), counts)

    nblob = max(1, 100 // s)
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    for i in range(nblob * 3 // 2):
        write(os.path.join(root, "blobs", "text-%03d.txt" % i), text(rng, 1 << 20), counts)
    for i in range(nblob):
        write(os.path.join(root, "blobs", "rand-%03d.bin" % i), rng.randbytes(1 << 20), counts)
        write(os.path.join(root, "blobs", "lib-%03d.so" % i), binary(rng, 1 << 20), counts)
        packed = gzip.compress(text(rng, 1 << 20), compresslevel=6, mtime=0)
        write(os.path.join(root, "blobs", "pack-%03d.gz" % i), packed, counts)

    nbig = max(1, 2 // s)
    os.makedirs(os.path.join(root, "big"), exist_ok=True)
    for i in range(nbig):
        write(os.path.join(root, "big", "text-%d.txt" % i), text(rng, 20 << 20), counts)
        write(os.path.join(root, "big", "rand-%d.bin" % i), rng.randbytes(20 << 20), counts)

    # Directories last, deepest first, so writing children does not move them.
    for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count(os.sep)):
        os.chmod(dirpath, 0o755)
        os.utime(dirpath, (MTIME, MTIME))
    print("%d files, %d bytes" % (counts[0], counts[1]))


if __name__ == "__main__":
    main()
