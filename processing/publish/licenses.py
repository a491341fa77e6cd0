"""Whether a source's licence asks more of the published dataset than `[output] license` gives.

A licence is read as the terms it puts on a dataset built from material under it:

- attribution: the source is credited (every licence below but public-domain dedications);
- non-commercial: no commercial use;
- share-alike: what is built from it is shared under the same licence;
- no-derivatives: what is built from it may not be shared.

The output licence satisfies a source when it carries each of the source's terms: its
own attribution term, its own non-commercial term, and, for share-alike, the very licence
the source requires. No licence satisfies a no-derivatives source. A licence whose terms
are not written down here (`unknown`, `other`, none declared, the GNU lesser and weak
copyleft licences, custom model and research licences) is not judged, and the callers say
so rather than guess. This is a check of declared identifiers, not legal advice.

Where the terms come from:
- Creative Commons 4.0 legal code (creativecommons.org/licenses/ELEMENTS/4.0/legalcode):
  attribution §3(a); NC grants the rights "for NonCommercial purposes only" (§2(a)(1));
  SA §3(b)(1): adapted material goes under "a Creative Commons license with the same
  License Elements, this version or later" (or one Creative Commons lists as compatible);
  ND §2(a)(1)(B): adapted material may be produced "but not Shared". The 2.0–3.0
  licences have the same elements (3.0 §4(b): an adaptation under this licence or a later
  version with the same elements).
- GPL-3.0 and AGPL-3.0 §5(c), GPL-2.0 §2(b): a work based on the program is licensed as a
  whole under the same licence; GFDL §4: modified versions under precisely this licence.
- ODbL 1.0 §4.4: a derivative database that is publicly used is offered under ODbL.
- CDLA-Sharing-1.0: enhanced data is published under CDLA-Sharing-1.0 again.
- MIT, the BSD family, ISC, Zlib, Boost, NCSA, PostgreSQL, Apache-2.0 (§4), CDLA-Permissive,
  ODC-By: keep the copyright or licence notice; what is built on them may carry any licence.
- CC0-1.0, the Unlicense, PDDL, WTFPL: no conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ATTRIBUTION, NONCOMMERCIAL, SHARE_ALIKE, NO_DERIVATIVES = "attribution", "non-commercial", "share-alike", "no-derivatives"

_CREATIVE_COMMONS = re.compile(r"cc-by(?P<elements>(?:-nc)?(?:-sa|-nd)?)-(?P<version>\d\.\d)")
_ELEMENT_TERMS = {"nc": NONCOMMERCIAL, "sa": SHARE_ALIKE, "nd": NO_DERIVATIVES}
_NOTICE_ONLY = {"apache-2.0", "mit", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc", "zlib",
                "bsl-1.0", "ncsa", "postgresql", "cdla-permissive-1.0", "cdla-permissive-2.0", "odc-by"}
_PUBLIC_DOMAIN = {"cc0-1.0", "unlicense", "pddl", "wtfpl"}
_COPYLEFT = {"gpl", "gpl-2.0", "gpl-3.0", "agpl-3.0", "gfdl", "odbl", "cdla-sharing-1.0"}


def terms(license: str | None) -> frozenset[str] | None:
    """The terms `license` puts on what is built from it; None when it is not judged here."""
    if license is None:
        return None
    if match := _CREATIVE_COMMONS.fullmatch(license):
        elements = match["elements"].split("-")[1:]
        return frozenset({ATTRIBUTION, *(_ELEMENT_TERMS[element] for element in elements)})
    if license in _NOTICE_ONLY:
        return frozenset({ATTRIBUTION})
    if license in _PUBLIC_DOMAIN:
        return frozenset()
    if license in _COPYLEFT:
        return frozenset({ATTRIBUTION, SHARE_ALIKE})
    return None


def unmet_terms(source: str | None, output: str | None) -> list[str] | None:
    """What the source's licence asks that the output's does not give, as phrases; [] when
    nothing; None when either licence is not judged."""
    asked, given = terms(source), terms(output)
    if asked is None or given is None:
        return None
    unmet = []
    if NO_DERIVATIVES in asked:
        unmet.append("it forbids sharing material adapted from it")
    if NONCOMMERCIAL in asked and NONCOMMERCIAL not in given:
        unmet.append("it forbids commercial use")
    if SHARE_ALIKE in asked and not _shares_alike(source, output):
        unmet.append(f"what is built from it must be shared under {_required(source)}")
    if ATTRIBUTION in asked and ATTRIBUTION not in given:
        unmet.append("it requires attribution, which a public-domain dedication gives up")
    return unmet


def _shares_alike(source: str, output: str) -> bool:
    """Creative Commons: the same elements, this version or later; any other licence: itself."""
    asked, given = _CREATIVE_COMMONS.fullmatch(source), _CREATIVE_COMMONS.fullmatch(output)
    if asked and given:
        return asked["elements"] == given["elements"] and float(given["version"]) >= float(asked["version"])
    return source == output


def _required(source: str) -> str:
    match = _CREATIVE_COMMONS.fullmatch(source)
    return f"{source} or a later version of it" if match and match["version"] != "4.0" else source


def suggested_license(declared: list[str | None]) -> str | None:
    """The least demanding of the declared licences that meets every judged one; None when
    none does (a no-derivatives source, or two share-alike licences that exclude each other)."""
    judged = [license for license in dict.fromkeys(declared) if terms(license) is not None]
    fitting = [candidate for candidate in judged if all(unmet_terms(license, candidate) == [] for license in judged)]
    return min(fitting, key=lambda license: len(terms(license)), default=None)


@dataclass(frozen=True)
class Stricter:
    source: str  # the source's label
    license: str
    unmet: list[str]


@dataclass
class LicenseCheck:
    """The declared licences of the sources against the output licence."""

    output: str
    stricter: list[Stricter] = field(default_factory=list)
    unjudged: list[tuple[str, str | None]] = field(default_factory=list)  # (source, its licence or None)
    suggestion: str | None = None


def check_licenses(sources, output: str) -> LicenseCheck:
    """`sources`: the configured sources (their `label` and `license`)."""
    check = LicenseCheck(output)
    for source in sources:
        unmet = unmet_terms(source.license, output)
        if unmet is None:
            check.unjudged.append((source.label, source.license))
        elif unmet:
            check.stricter.append(Stricter(source.label, source.license, unmet))
    if check.stricter:
        check.suggestion = suggested_license([source.license for source in sources])
    return check


def warning_lines(check: LicenseCheck) -> list[str]:
    """What `crd build` says before it starts: a warning per stricter source, one note for the rest."""
    lines = [f"warning: source {item.source!r} is {item.license}, stricter than [output] license = "
             f"{check.output!r}: {'; '.join(item.unmet)}; {_advice(check)}" for item in check.stricter]
    if check.unjudged:
        unknown = "the output licence's terms" if terms(check.output) is None else "their terms"
        lines.append(f"note: not judged against [output] license = {check.output!r} (crd does not know {unknown}): "
                     f"{_unjudged_list(check)}; check that their terms allow publishing")
    return lines


def _advice(check: LicenseCheck) -> str:
    if check.suggestion is None:
        return "no licence meets every source's terms: leave the source out or ask its authors"
    return f'set [output] license = "{check.suggestion}" to follow its terms'


def _unjudged_list(check: LicenseCheck) -> str:
    return ", ".join(f"{source!r} ({license or 'not declared'})" for source, license in check.unjudged)


def card_notice(check: LicenseCheck) -> str:
    """The card's warning under its title, or "" when no source is stricter than the output."""
    if not check.stricter:
        return ""
    lines = [f"> **Licence.** This dataset is published under `{check.output}`, but source `{item.source}` is "
             f"`{item.license}`: {'; '.join(item.unmet)}." for item in check.stricter]
    advice = (f"Publishing it under `{check.suggestion}` would follow those terms." if check.suggestion
              else "No licence meets every source's terms.")
    return "\n>\n".join([*lines, f"> {advice} See [Sources](#sources)."]) + "\n\n"
