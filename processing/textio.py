"""Text files in the encodings Chinese data comes in, read line by line with errors that locate.

UTF-8 (with or without a byte-order mark), GB18030/GBK and UTF-16 with a BOM are recognised;
any other encoding Python knows can be declared. The encoding is chosen thus:

1. a declared encoding (a source's `encoding`, or `--encoding`) is used as is;
2. a byte-order mark names UTF-8 or UTF-16;
3. otherwise UTF-8, unless the first MiB is not valid UTF-8, is valid GB18030 and reads as
   common Chinese: at least 80 % of its non-ASCII characters are in GB2312.

Why the third test: UTF-8 Chinese often decodes as GB18030 without an error, as mojibake
("涓枃" for "中文"); on ../shared/data/instructions one UTF-8 line in 34 does, and at most
67 % of such a line's characters are in GB2312, against 99.6 % of real Chinese text. So a
UTF-8 file with a corrupt byte is reported, never read as mojibake. GB18030 text is never
valid UTF-8 there (0 of 26,570 lines), so UTF-8 is tried first.

Files are decoded a block (64 KiB) at a time; only a block that fails is decoded again line
by line to find the bad line, so the UTF-8 path costs one bulk decode per block. A leading
U+FEFF is dropped whatever the encoding, so a BOM never becomes part of a column name.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from processing.errors import CrdError

SAMPLE_BYTES = 1 << 20  # what detection looks at: enough for thousands of records
BLOCK_BYTES = 1 << 16  # decoded text of this size stays in cache: 1 MiB blocks were 2x slower
MIN_COMMON_SHARE = 0.8  # of non-ASCII characters in GB2312 for GB18030 to be detected
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
DECLARE_HINT = 'set its encoding: encoding = "{suggested}" in its [[sources]] entry, or --encoding {suggested}'


class UndecodableError(CrdError):
    """A line with a byte its encoding cannot decode; counted as `undecodable` under on_error = "skip"."""

    reason = "undecodable"

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def encoding_name(name: str) -> str:
    """`name` if Python knows the encoding; a ValueError naming it otherwise."""
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}; e.g. utf-8, gb18030, gbk, utf-16") from None
    return name


Lines = list[str | UndecodableError]


def iter_lines(path: Path, encoding: str | None = None, hint: str = DECLARE_HINT) -> Iterator[tuple[int, str | UndecodableError]]:
    """(line number, the line without its newline, or the error of an undecodable line)."""
    return enumerate(chain.from_iterable(iter_blocks(path, encoding, hint)), start=1)  # no Python step per line


def iter_blocks(path: Path, encoding: str | None = None, hint: str = DECLARE_HINT) -> Iterator[Lines]:
    """The file's lines a block (about 64 KiB) at a time: each line without its newline, or
    the error of an undecodable line (`.line` is its number). For readers that want to work
    a block at a time; iter_lines gives them one by one.

    Lines end at "\\n" only (a "\\r" before it stays), like the byte offsets in errors;
    offsets of a .zst file count uncompressed bytes. `hint` is the advice an error ends
    with; "{suggested}" in it becomes an encoding worth trying.
    """
    with _open_binary(path) as stream:
        head = stream.read(SAMPLE_BYTES)
        codec, start = choose_encoding(head, encoding, complete=len(head) < SAMPLE_BYTES)
        chunks = _chunks(stream, head[start:])
        if "\n".encode(codec) == b"\n":
            yield from _ascii_blocks(path, _blocks(chunks), codec, start, hint)
        else:  # UTF-16: a newline byte can sit inside a character, so the text is decoded whole
            yield _wide_lines(path, b"".join(chunks), codec, start, hint)


def read_text(path: Path, encoding: str | None = None, hint: str = DECLARE_HINT) -> str:
    """The whole file as text; the first undecodable byte raises."""
    lines = []
    for _, line in iter_lines(path, encoding, hint):
        if isinstance(line, UndecodableError):
            raise line
        lines.append(line)
    return "\n".join(lines)


def choose_encoding(head: bytes, declared: str | None, complete: bool) -> tuple[str, int]:
    """(encoding, bytes of BOM to skip) from the file's first bytes; see the module docstring."""
    if declared:
        return declared, 0
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if _decode(head, "utf-8", complete) is not None:
        return "utf-8", 0
    text = _decode(head, "gb18030", complete)
    return ("gb18030", 0) if text is not None and _common_chinese(text) else ("utf-8", 0)


def _decode(data: bytes, codec: str, complete: bool) -> str | None:
    """The text, or None if `data` is not valid `codec` (a character cut at the end is fine unless complete)."""
    try:
        return codecs.getincrementaldecoder(codec)().decode(data, final=complete)
    except UnicodeDecodeError:
        return None


def _common_chinese(text: str) -> bool:
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    uncommon = text.encode("gb2312", "replace").count(b"?") - text.count("?")  # counted in C, not per character
    return non_ascii > 0 and uncommon <= (1 - MIN_COMMON_SHARE) * non_ascii


def _open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".zst"):
        import zstandard

        # Buffered, so read(n) returns n bytes unless the stream ends.
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(path.open("rb")), BLOCK_BYTES)
    return path.open("rb")


def _chunks(stream: BinaryIO, head: bytes) -> Iterator[bytes]:
    """The file in BLOCK_BYTES pieces, starting with the head detection read."""
    for start in range(0, len(head), BLOCK_BYTES):
        yield head[start : start + BLOCK_BYTES]
    while chunk := stream.read(BLOCK_BYTES):
        yield chunk


def _blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes re-cut to end after a newline (all but perhaps the last block). A line
    longer than a chunk is gathered in a list, so a one-line JSON array costs one join."""
    pending: list[bytes] = []
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            pending.append(chunk)
            continue
        pending.append(chunk[:cut])
        yield b"".join(pending)
        pending = [chunk[cut:]]
    if tail := b"".join(pending):
        yield tail


def _ascii_blocks(path: Path, blocks: Iterable[bytes], codec: str, offset: int, hint: str) -> Iterator[Lines]:
    """Lines of an encoding where byte 0x0A is always a newline (UTF-8, GB18030, GBK, Big5, …)."""
    number = 0
    for block in blocks:
        try:
            lines = block.decode(codec).split("\n")
        except UnicodeDecodeError:  # rare: decode line by line to find the bad ones
            lines = _lines_one_by_one(path, block, codec, number, offset, hint)
        if block.endswith(b"\n"):
            lines.pop()  # the empty piece after the block's last newline
        if not number:
            _drop_bom(lines)
        yield lines
        number += len(lines)
        offset += len(block)


def _lines_one_by_one(path: Path, block: bytes, codec: str, number: int, offset: int, hint: str) -> Lines:
    """The lines of a block that failed to decode: text, or the error of each bad line.
    `number` and `offset` are the line count and the file offset before the block."""
    lines: Lines = []
    for raw in block.split(b"\n"):
        number += 1
        try:
            lines.append(raw.decode(codec))
        except UnicodeDecodeError as exc:
            lines.append(_undecodable(path, number, offset + exc.start, f"byte 0x{raw[exc.start]:02X}", codec, hint))
        offset += len(raw) + 1
    return lines


def _wide_lines(path: Path, data: bytes, codec: str, offset: int, hint: str) -> Lines:
    """Lines of a UTF-16 file. An undecodable byte raises even under on_error = "skip": with
    characters two bytes wide, the text after it cannot be found again reliably."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        number = data[: exc.start].decode(codec, "replace").count("\n") + 1
        raise _undecodable(path, number, offset + exc.start, exc.reason, codec, hint) from None
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    _drop_bom(lines)
    return lines


def _undecodable(path: Path, number: int, offset: int, what: str, codec: str, hint: str) -> UndecodableError:
    suggested = "utf-8" if codecs.lookup(codec).name == "gb18030" else "gb18030"
    return UndecodableError(
        f"{path}:{number}: undecodable as {codec} ({what} at byte offset {offset}); {hint.format(suggested=suggested)}",
        number,
    )


def _drop_bom(lines: Lines) -> None:
    """A U+FEFF a declared encoding left at the start of the first line."""
    if lines and isinstance(lines[0], str):
        lines[0] = lines[0].removeprefix("\ufeff")
