"""Splink (DuckDB backend) on the files `himaya bench --workloads link` writes,
with a model comparable to Himaya's: the same fields but the household's
address (see below), name levels on both
scripts' columns, the same date levels, the same kinds of blocking rules
(without a phonetic key, which Splink does not have for these scripts), u
from 2 million random pairs, m by EM sessions on three training rules (the
identifier, the phone, and the Latin given name with the birth year — in a
match across scripts, the date of birth instead).

    python3 scripts/splink_link.py dedupe DIR   # DIR/people.csv, DIR/truth.csv
    python3 scripts/splink_link.py match DIR    # DIR/left.csv, DIR/right.csv, DIR/truth.csv

Prints one JSON line: pairs, true pairs, precision, recall, f1, seconds
(reading the files, training and predicting; not the evaluation).
Needs `pip install splink pandas` (Splink brings DuckDB). The benchmark may use Python;
the product does not.
"""

import json
import logging
import sys
import time

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

NAME_PARTS = ["given_name", "family_name", "father_name"]


def name_comparison(part):
    native, latin = part, f"{part}_latin"
    both = [native, latin]

    def side_null(s):
        return " and ".join(f"{c}_{s} is null" for c in both)

    def any_of(template):
        return " or ".join(template.format(c=c) for c in both)

    return cl.CustomComparison(
        output_column_name=part,
        comparison_levels=[
            cll.CustomLevel(f"({side_null('l')}) or ({side_null('r')})").configure(is_null_level=True),
            cll.CustomLevel(any_of("{c}_l = {c}_r"), "exact"),
            cll.CustomLevel(any_of("jaro_winkler_similarity({c}_l, {c}_r) >= 0.92"), "typo"),
            cll.CustomLevel(any_of("jaro_winkler_similarity({c}_l, {c}_r) >= 0.8"), "similar"),
            cll.ElseLevel(),
        ],
    )


def year(side):
    return f"try_cast(substr(date_of_birth_{side}, 1, 4) as integer)"


DOB = cl.CustomComparison(
    output_column_name="date_of_birth",
    comparison_levels=[
        cll.NullLevel("date_of_birth"),
        cll.CustomLevel(
            "length(date_of_birth_l) = 10 and date_of_birth_l = date_of_birth_r", "same day"
        ),
        cll.CustomLevel(
            "length(date_of_birth_l) = 10 and length(date_of_birth_r) = 10 "
            "and substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4) "
            "and substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2) "
            "and substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)",
            "day and month swapped",
        ),
        cll.CustomLevel(
            "length(date_of_birth_l) >= 7 and length(date_of_birth_r) >= 7 "
            "and substr(date_of_birth_l, 1, 7) = substr(date_of_birth_r, 1, 7)",
            "same month",
        ),
        cll.CustomLevel(f"{year('l')} = {year('r')}", "same year"),
        cll.CustomLevel(f"abs({year('l')} - {year('r')}) <= 1", "1 year apart"),
        cll.CustomLevel(f"abs({year('l')} - {year('r')}) <= 3", "3 years apart"),
        cll.ElseLevel(),
    ],
)

AREA = cl.CustomComparison(
    output_column_name="area",
    comparison_levels=[
        cll.NullLevel("area"),
        cll.ExactMatchLevel("area"),
        cll.CustomLevel(
            "regexp_replace(area_l, '-[^-]*$', '') = regexp_replace(area_r, '-[^-]*$', '')",
            "same parent area",
        ),
        cll.ElseLevel(),
    ],
)


def settings(link_type):
    year_expr = "substr(date_of_birth, 1, 4)"
    rules = [block_on("identifier"), block_on("phone")]
    for suffix in ["", "_latin"]:
        g, f, fa = (f"{p}{suffix}" for p in NAME_PARTS)
        rules += [
            block_on(g, f, year_expr),
            block_on(g, fa, "sex"),
            block_on(f, fa, year_expr, "sex"),
        ]
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="person_key",
        comparisons=[name_comparison(p) for p in NAME_PARTS]
        + [
            DOB,
            cl.ExactMatch("sex"),
            cl.DamerauLevenshteinAtThresholds("identifier", [1]),
            cl.DamerauLevenshteinAtThresholds("phone", [1]),
            AREA,
            # No address: with an exact-address comparison, Splink's EM learnt
            # models that kept 40,481 pairs at precision 0.09 (Bangladesh).
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
    )


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)


def main():
    mode, d = sys.argv[1], sys.argv[2]
    logging.disable(logging.WARNING)
    started = time.time()
    db = DuckDBAPI()
    if mode == "dedupe":
        tables = [db.register(read(f"{d}/people.csv"), dataset_display_name="people")]
        link_type = "dedupe_only"
    else:
        tables = [
            db.register(read(f"{d}/left.csv"), dataset_display_name="left_list"),
            db.register(read(f"{d}/right.csv"), dataset_display_name="right_list"),
        ]
        link_type = "link_only"
    linker = Linker(tables if len(tables) > 1 else tables[0], settings(link_type), log_level=None)
    # The prior from the identifier, assuming it finds half the duplicates.
    linker.training.estimate_probability_two_random_records_match([block_on("identifier")], recall=0.5)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    # In a match the two lists share no script, so no name can select training pairs.
    names_or_date = (
        block_on("given_name_latin", "substr(date_of_birth, 1, 4)") if mode == "dedupe" else block_on("date_of_birth")
    )
    for rule in [block_on("identifier"), names_or_date, block_on("phone")]:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError as e:
            # Splink's EM can drive an m probability to 0, which it then refuses;
            # the session is skipped, as a user would, and the others stand.
            print(f"EM session skipped: {e}", file=sys.stderr)
    predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    seconds = time.time() - started

    truth = pd.read_csv(f"{d}/truth.csv", dtype=str).set_index("person_key")["person_id"].to_dict()
    if mode == "dedupe":
        sizes = pd.Series(list(truth.values())).value_counts()
        true_pairs = int((sizes * (sizes - 1) // 2).sum())
    else:
        left = pd.Series([truth[k] for k in read(f"{d}/left.csv")["person_key"]]).value_counts()
        right = pd.Series([truth[k] for k in read(f"{d}/right.csv")["person_key"]]).value_counts()
        true_pairs = int((left * right).dropna().sum())
    found = sum(truth[a] == truth[b] for a, b in zip(predictions["person_key_l"], predictions["person_key_r"]))
    precision = found / max(len(predictions), 1)
    recall = found / max(true_pairs, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    print(
        json.dumps(
            {
                "pairs": len(predictions),
                "true_pairs": true_pairs,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
