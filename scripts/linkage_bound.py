"""How much recall any scorer could reach at a given precision, knowing only
the comparison levels of the candidate pairs.

Run `himaya link dedupe ... --threshold 0.001 --out OUT` first, then

    python3 scripts/linkage_bound.py TRUTH.csv OUT/pairs.csv [PRECISION]

Pairs with the same levels on every comparison cannot be told apart by any
model of those levels, so the best a scorer can do is to keep whole groups
of them, the purest first. This prints the recall reached when precision
would fall below PRECISION (default 0.98). Pairs below the run's threshold
are not in the file, so non-matches are undercounted and the figure is an
upper bound.
"""

import csv
import sys
from collections import Counter


def main():
    truth_path, pairs_path = sys.argv[1], sys.argv[2]
    target = float(sys.argv[3]) if len(sys.argv) > 3 else 0.98
    with open(truth_path, newline="") as f:
        truth = {r["person_key"]: r["person_id"] for r in csv.DictReader(f)}
    sizes = Counter(truth.values())
    true_pairs = sum(n * (n - 1) // 2 for n in sizes.values())
    matches, others = Counter(), Counter()
    with open(pairs_path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            levels = tuple(row[4:])
            if truth[row[0]] == truth[row[1]]:
                matches[levels] += 1
            else:
                others[levels] += 1
    groups = sorted(set(matches) | set(others), key=lambda g: -matches[g] / (matches[g] + others[g]))
    kept_matches = kept = 0
    for g in groups:
        if (kept_matches + matches[g]) / (kept + matches[g] + others[g]) < target:
            break
        kept_matches += matches[g]
        kept += matches[g] + others[g]
    print(
        f"true pairs {true_pairs}; in the file {sum(matches.values())}; "
        f"best recall at precision >= {target}: {kept_matches / true_pairs:.4f}"
    )


if __name__ == "__main__":
    main()
