"""The Python example's application: counts words."""

import collections
import re

WORD = re.compile(r"[A-Za-z']+")


def top_words(text, n=3):
    """The n most common words of text, lower-cased, most common first (ties by first appearance)."""
    counts = collections.Counter(w.lower() for w in WORD.findall(text))
    return counts.most_common(n)
