import unittest

from app import top_words


class TopWords(unittest.TestCase):
    def test_counts_case_insensitively(self):
        self.assertEqual(top_words("The cat and the hat. THE end.", 2), [("the", 3), ("cat", 1)])

    def test_empty(self):
        self.assertEqual(top_words(""), [])


if __name__ == "__main__":
    unittest.main()
