"""The card's Sources and Citations sections: what each source published, under which licence,
and how its authors ask to be cited."""

from __future__ import annotations

import re

import polars as pl

from processing.publish.licenses import LicenseCheck

_BIBTEX = re.compile(r"\s*@\w+\s*\{")  # an entry starts `@article{`, `@misc{`, …


def _entry_labels(sources, labels: list[list[str]] | None) -> list[list[str]]:
    """Per [[sources]] entry, the `source` values of its rows: as the pool stage recorded them,
    else (no record) the entry's own name or file stem."""
    return labels if labels is not None else [[source.label] for source in sources]


def _owners(sources, labels: list[list[str]] | None) -> dict[str, list[int]]:
    """`source` value -> the [[sources]] entries whose rows carry it."""
    owners: dict[str, list[int]] = {}
    for index, names in enumerate(_entry_labels(sources, labels)):
        for name in names:
            owners.setdefault(name, []).append(index)
    return owners


def sources_section(rows: pl.DataFrame, sources, labels: list[list[str]] | None, check: LicenseCheck) -> str:
    """A table of the published rows per `source` value with its licence and homepage, and
    what the licence check could not judge."""
    published = dict(rows.group_by("source").len().iter_rows())
    owners = _owners(sources, labels)
    stricter = {item.license for item in check.stricter}
    lines = ["| source | rows published | licence | homepage |", "|---|---:|---|---|"]
    for label in [*owners, *sorted(set(published) - set(owners), key=str)]:
        entries = [sources[index] for index in owners.get(label, [])]
        licence = _joined(_licence_cell(source.license, stricter) for source in entries) or "not recorded"
        homepage = _joined(f"<{source.homepage}>" for source in entries if source.homepage) or "—"
        lines.append(f"| {_cell(label)} | {published.get(label, 0):,} | {licence} | {_cell(homepage)} |")
    text = f"This dataset's licence: `{check.output}`.\n\n" + "\n".join(lines)
    if check.unjudged:
        names = ", ".join(f"`{source}` ({license or 'not declared'})" for source, license in check.unjudged)
        text += (f"\n\nNot judged against `{check.output}`: {names}. crd compares only licences whose terms it "
                 "knows (Creative Commons, GNU, ODbL, CDLA and common permissive licences); check these yourself.")
    return text


def citations_section(sources, labels: list[list[str]] | None) -> str:
    """Each declared citation once, named by the `source` values it covers, BibTeX in a fenced block."""
    cited: dict[str, list[str]] = {}
    for source, names in zip(sources, _entry_labels(sources, labels)):
        if source.citation and source.citation.strip():
            cited.setdefault(source.citation.strip(), []).extend(names)
    if not cited:
        return "No source declared a citation; the [Sources](#sources) table says where each came from."
    parts = ["Please cite the sources of the prompts as their authors ask:"]
    for citation, names in cited.items():
        body = f"```bibtex\n{citation}\n```" if _BIBTEX.match(citation) else citation
        parts.append(f"{', '.join(f'`{name}`' for name in dict.fromkeys(names))}:\n\n{body}")
    return "\n\n".join(parts)


def _licence_cell(license: str | None, stricter: set[str]) -> str:
    if license is None:
        return "not declared"
    return f"**{license}** (stricter than this dataset's)" if license in stricter else license


def _joined(values) -> str:
    return ", ".join(dict.fromkeys(values))


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
