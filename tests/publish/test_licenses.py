"""The licence ordering: which declared source licences the output licence does not follow,
what it would take, and which ones crd does not judge."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from processing.license_ids import HUB_LICENSES, hub_license
from processing.publish.licenses import (check_licenses, card_notice, suggested_license, terms, unmet_terms,
                                         warning_lines)


@pytest.mark.parametrize(("source", "output", "unmet"), [
    ("cc-by-nc-sa-4.0", "apache-2.0", ["it forbids commercial use",
                                       "what is built from it must be shared under cc-by-nc-sa-4.0"]),
    ("cc-by-nc-sa-4.0", "cc-by-nc-sa-4.0", []),
    ("cc-by-nc-4.0", "apache-2.0", ["it forbids commercial use"]),
    ("cc-by-nc-4.0", "cc-by-nc-sa-4.0", []),  # BY-NC material may go under a licence adding share-alike
    ("cc-by-nc-4.0", "cc-by-nc-nd-4.0", []),
    ("cc-by-sa-3.0", "cc-by-sa-4.0", []),  # "this version or later"
    ("cc-by-sa-4.0", "cc-by-sa-3.0", ["what is built from it must be shared under cc-by-sa-4.0"]),
    ("cc-by-sa-3.0", "mit", ["what is built from it must be shared under cc-by-sa-3.0 or a later version of it"]),
    ("cc-by-sa-4.0", "cc-by-nc-sa-4.0", ["what is built from it must be shared under cc-by-sa-4.0"]),
    ("cc-by-nd-4.0", "cc-by-nd-4.0", ["it forbids sharing material adapted from it"]),
    ("gpl-3.0", "apache-2.0", ["what is built from it must be shared under gpl-3.0"]),
    ("gpl-3.0", "gpl-3.0", []),
    ("odbl", "cc-by-4.0", ["what is built from it must be shared under odbl"]),
    ("mit", "apache-2.0", []),
    ("apache-2.0", "mit", []),
    ("cc-by-4.0", "apache-2.0", []),
    ("mit", "cc0-1.0", ["it requires attribution, which a public-domain dedication gives up"]),
    ("cc0-1.0", "cc0-1.0", []),
])
def test_unmet_terms(source, output, unmet):
    assert unmet_terms(source, output) == unmet


@pytest.mark.parametrize(("source", "output"), [
    ("unknown", "apache-2.0"), ("other", "apache-2.0"), (None, "apache-2.0"), ("llama3", "apache-2.0"),
    ("lgpl-3.0", "apache-2.0"), ("fair-noncommercial-research-license", "cc-by-nc-4.0"),
    ("mit", "other"), ("cc-by-nc-sa-4.0", "unknown"),
])
def test_licences_whose_terms_crd_does_not_know_are_not_judged(source, output):
    assert unmet_terms(source, output) is None


def test_every_hub_identifier_is_either_judged_or_not_and_the_judged_ones_are_the_known_families():
    judged = {license for license in HUB_LICENSES if terms(license) is not None}
    creative_commons = {license for license in HUB_LICENSES if license.startswith("cc-by")}
    assert creative_commons <= judged
    assert {"mit", "apache-2.0", "bsd-3-clause", "cc0-1.0", "unlicense", "gpl-3.0", "agpl-3.0", "odbl",
            "cdla-sharing-1.0", "cdla-permissive-2.0"} <= judged
    assert not judged & {"unknown", "other", "cc", "llama3", "gemma", "openrail", "lgpl", "mpl-2.0"}


@pytest.mark.parametrize(("declared", "suggested"), [
    (["mit", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", None, "unknown"], "cc-by-nc-sa-4.0"),
    (["mit", "cc-by-nc-4.0"], "cc-by-nc-4.0"),
    (["cc-by-sa-3.0", "cc-by-sa-4.0"], "cc-by-sa-4.0"),
    (["apache-2.0", "mit"], "apache-2.0"),  # the first of equally demanding ones
    (["cc-by-sa-4.0", "cc-by-nc-sa-4.0"], None),  # each share-alike term excludes the other
    (["cc-by-nd-4.0"], None),
    (["unknown", None], None),
])
def test_the_suggested_output_licence_meets_every_judged_source(declared, suggested):
    assert suggested_license(declared) == suggested
    if suggested is not None:
        assert all(unmet_terms(license, suggested) in ([], None) for license in declared)


def source(label: str, license: str | None) -> SimpleNamespace:
    return SimpleNamespace(label=label, license=license)


def test_the_check_names_the_stricter_source_and_the_licence_to_set():
    check = check_licenses([source("cmmlu", "cc-by-nc-sa-4.0"), source("apples", "mit"),
                            source("ape210k", "unknown"), source("mine", None)], "apache-2.0")
    assert [item.source for item in check.stricter] == ["cmmlu"]
    assert check.unjudged == [("ape210k", "unknown"), ("mine", None)]
    assert check.suggestion == "cc-by-nc-sa-4.0"
    warning, note = warning_lines(check)
    assert warning.startswith("warning: source 'cmmlu' is cc-by-nc-sa-4.0, stricter than [output] license = 'apache-2.0'")
    assert warning.endswith('set [output] license = "cc-by-nc-sa-4.0" to follow its terms')
    assert note.startswith("note: not judged") and "'ape210k' (unknown), 'mine' (not declared)" in note
    assert "`cmmlu` is `cc-by-nc-sa-4.0`" in card_notice(check)


def test_sources_that_no_licence_satisfies_say_so():
    check = check_licenses([source("a", "cc-by-sa-4.0"), source("b", "cc-by-nc-sa-4.0")], "apache-2.0")
    assert check.suggestion is None
    assert all("no licence meets every source's terms" in line for line in warning_lines(check))
    assert "No licence meets every source's terms." in card_notice(check)


def test_nothing_to_say_when_every_source_is_met():
    check = check_licenses([source("cmmlu", "cc-by-nc-sa-4.0"), source("he", "mit")], "cc-by-nc-sa-4.0")
    assert warning_lines(check) == [] and card_notice(check) == ""


def test_hub_identifiers_are_matched_without_case_and_typos_name_the_closest():
    assert hub_license("CC-BY-NC-SA-4.0") == "cc-by-nc-sa-4.0"
    assert hub_license(" MIT ") == "mit"
    with pytest.raises(ValueError, match=r"did you mean cc-by-nc-sa-4\.0"):
        hub_license("cc-by-nc-sa4.0")
    with pytest.raises(ValueError, match="use `other`"):
        hub_license("my own terms")
