"""Reading (document, summary) pairs: JSONL, CSV/TSV with named columns, or line-aligned text files.

    JSONL        --text-field / --summary-field name the keys [text, summary] (AESLC: email_body, subject_line)
    CSV / TSV    a header naming the columns (text/document/article/body, summary/title/subject/highlights)
    text files   --src documents.txt --tgt summaries.txt, one per line, line-aligned

--ref-fields (evaluation) names several reference fields (AESLC's ann0,ann1,ann2). An empty document
or summary is an error naming file and line, unless the caller asks to skip them (counted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from nlp_apps.data import readers
from nlp_apps.data.readers import Field
from nlp_apps.errors import DataError

TEXT_NAMES = ("text", "document", "article", "body", "source")
SUMMARY_NAMES = ("summary", "title", "subject", "highlights", "target")


@dataclass(frozen=True)
class Document:
    text: str
    summary: str | None  # the training target (None: nothing to learn from, e.g. prediction input)
    references: tuple[str, ...]  # what evaluation scores against (several with --ref-fields)
    origin: str  # "file:line"


@dataclass
class DocumentSet:
    documents: list[Document] = field(default_factory=list)
    skipped_empty: int = 0


def read_documents(
    path: str | os.PathLike | None = None,
    *,
    src: str | os.PathLike | None = None,
    tgt: str | os.PathLike | None = None,
    format: str | None = None,
    text_field: str | None = None,
    summary_field: str | None = None,
    ref_fields: Sequence[str] = (),
    require_summary: bool = True,
    skip_empty: bool = False,
) -> DocumentSet:
    result = DocumentSet()
    if src is not None:
        rows = readers.read_parallel(src, tgt) if tgt is not None else ((n, t, None) for n, t in readers.numbered_lines(src))
        for number, text, summary in rows:
            _add(result, text, summary, (summary,) if summary else (), str(src), number, require_summary, skip_empty)
    else:
        if path is None:
            raise DataError("(no file)", "give a dataset file, or --src (and --tgt) text files")
        fmt = format or readers.detect_format(path)
        if fmt == "jsonl":
            fields = [Field("text", column=text_field or "text"),
                      Field("summary", column=summary_field or "summary", required=require_summary and not ref_fields)]
        else:
            fields = [Field("text", TEXT_NAMES, text_field, option="--text-field"),
                      Field("summary", SUMMARY_NAMES, summary_field, required=require_summary and not ref_fields, option="--summary-field")]
        fields += [Field(f"ref:{name}", column=name) for name in ref_fields]
        for record in readers.read_records(path, fields, format=fmt):
            values = {name: record.string(name, name.removeprefix("ref:")) for name in record.values}
            references = tuple(values[f"ref:{n}"] for n in ref_fields if (values[f"ref:{n}"] or "").strip())
            if not references and values["summary"]:
                references = (values["summary"],)
            _add(result, values["text"], values["summary"], references, record.path, record.line, require_summary, skip_empty)
    if not result.documents:
        raise DataError(path or src, "no documents (the file is empty)")
    return result


def _add(result: DocumentSet, text, summary, references, path, line: int, require_summary: bool, skip_empty: bool) -> None:
    empty = None
    if not (text or "").strip():
        empty = "document"
    elif require_summary and not (summary or "").strip() and not references:
        empty = "summary"
    if empty:
        if skip_empty:
            result.skipped_empty += 1
            return
        raise DataError(path, f"empty {empty} (pass --skip-empty to skip such lines)", line=line)
    result.documents.append(Document(text.strip(), summary.strip() if summary else None, tuple(r.strip() for r in references),
                                     f"{path}:{line}"))


def read_dataset(path, **options) -> list[Document]:
    """The plug-in contract's adapter: the documents of one file."""
    return read_documents(path, **options).documents


def split_examples(documents: Sequence[Document]) -> tuple[list[str], list[tuple[str, ...]]]:
    """(documents' texts, reference sets): what predict takes and what the metric compares against."""
    return [d.text for d in documents], [d.references for d in documents]
