"""python3 -m app [N] < TEXT: the N (default 3) most common words of TEXT, as JSON."""

import json
import sys

from app import top_words


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    json.dump([{"word": w, "count": c} for w, c in top_words(sys.stdin.read(), n)], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
