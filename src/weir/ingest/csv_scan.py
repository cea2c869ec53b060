"""Find CSV records in physical lines, and set aside the lines that cannot be right.

RFC 4180 lets a quoted field hold line breaks, so an unterminated quote can only be told
from a multi-line field by what follows: the quote never closes (before the end of the file
or the line limit), text follows the closing quote, or the record it makes has the wrong
number of fields. Any of these proves the record wrong, though not which of its lines is:
the scanner sets aside only the first line (where the quote opened) and starts again at the
next line, so a stray quote costs one line, never the rows after it.

The field rules are DuckDB's (checked against it by property tests): a quote opens a field
only at its start, after optional spaces; inside quotes, a doubled quote (or the escape
character followed by any character) is literal; after the closing quote only spaces, the
delimiter or the end of the line may follow; quotes inside an unquoted field are literal.

Bounded: a record is given up once it spans more than the line limit, and the lines read
again after a failed record are budgeted: twice what was read so far, plus 16 line limits.
That is plenty for real damage (the lines after a stray quote hold no quote, so each is read
again at most once) but not for text like `a",b,"c` on every line, which stays inside quotes
whichever side of it one starts: setting its lines aside one at a time would read on to the
line limit from each of them. Such a file cannot be resynchronised; it is refused rather
than scanned in quadratic time.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from typing import Literal, NamedTuple

from weir.ingest.csv_text import CsvFormat, Line

RESCAN_LIMITS = 16  # line limits' worth of bytes that may be read again, whatever the size
LONG_RECORD_LIMITS = 4  # how far past the line limit a quoted record is followed to its end

_START, _QUOTED, _AFTER, _END, _BAD = range(5)


class Record(NamedTuple):
    """A record the scanner accepts: its first line, how many lines it spans, its text."""

    first: Line
    lines: int
    text: str  # without its final line terminator
    fields: int


class BadLine(NamedTuple):
    """A physical line set aside (or, for a whole record that is too long, the `lines` it
    spans), with DuckDB's name for the problem and a plain reason."""

    line: Line
    error_type: str
    message: str
    lines: int = 1
    text: str | None = None  # the record's start, when it spans lines


class Blank(NamedTuple):
    """An empty line between records. DuckDB skips it, unless a record has one field and ''
    is a null token: then it is a row holding one null."""

    line: Line


Event = Record | BadLine | Blank


class UnsynchronisableError(Exception):
    """Resynchronising would cost more than the budget. `first` is the first of the lines
    set aside in a row up to `line`, where the scanner gave up."""

    def __init__(self, first: Line, line: Line) -> None:
        super().__init__(f"lines {first.number} to {line.number}")
        self.first = first
        self.line = line


def body_of(text: str) -> str:
    """A line's text without its terminator (\\r\\n, \\n or \\r)."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\n", "\r")) else text


class Scanner:
    """Records of a CSV file, line by line; `fields` is the expected count (None: the first
    record's)."""

    def __init__(
        self,
        fmt: CsvFormat,
        newline: Literal["\n", "\r"],
        fields: int | None,
    ) -> None:
        self.fmt = fmt
        self.delimiter, self.quote, self.escape = fmt.delimiter, fmt.quote, fmt.escape
        self.limit = fmt.max_line_bytes
        self.empty_is_null = fmt.empty_is_null
        self.other = "\r" if newline == "\n" else "\n"  # a lone one breaks DuckDB's parser
        self.fields = fields
        self.rescan_floor = RESCAN_LIMITS * fmt.max_line_bytes
        self.rescanned = 0
        self.pending: deque[Line] = deque()
        self.set_aside: Line | None = None  # first of the lines set aside in a row

    def events(self, lines: Iterator[Line]) -> Iterator[Event]:
        """Every line of `lines` turns up in exactly one event (a record may hold several)."""
        while (line := self._take(lines)) is not None:
            event = self._event(line, lines)
            if isinstance(event, Record):
                self.set_aside = None
            yield event

    def first(self, lines: Iterator[Line]) -> Event | None:
        """The first event only (the header), leaving the rest of `lines` for `events`."""
        line = self._take(lines)
        return None if line is None else self._event(line, lines)

    def _take(self, lines: Iterator[Line]) -> Line | None:
        return self.pending.popleft() if self.pending else next(lines, None)

    def _event(self, line: Line, lines: Iterator[Line]) -> Event:
        limit = self.limit
        if line.cut:
            return BadLine(line, "LINE SIZE OVER MAXIMUM", f"line longer than {limit} bytes")
        body = body_of(line.text)
        if not body and not (self.fields == 1 and self.empty_is_null):
            return Blank(line)
        state, fields, problem = self._advance(body, _START)
        if state == _END and fields == self.fields and len(body) <= limit:  # most lines
            return Record(line, 1, body, fields)
        span, size = [line], len(body)
        while state == _QUOTED:
            following = self._take(lines)
            if following is None:
                return self._give_up(line, span, "UNTERMINATED QUOTE", "the end of the file")
            span.append(following)
            size += following.size
            if following.cut or size > LONG_RECORD_LIMITS * limit:
                return self._give_up(line, span, "UNTERMINATED QUOTE", "csv.max_line_bytes")
            state, more, problem = self._advance(body_of(following.text), _QUOTED)
            fields += more
        if state == _BAD:
            return self._give_up(line, span, problem, "")
        if size > limit:  # a whole record, only too long: set aside whole, as DuckDB does
            self.set_aside = self.set_aside or line
            text = "".join(s.text for s in span)[:limit]
            return BadLine(line, "LINE SIZE OVER MAXIMUM", _TOO_LONG, len(span), text)
        expected = self.fields if self.fields is not None else fields
        if fields != expected:
            kind = "MISSING COLUMNS" if fields < expected else "TOO MANY COLUMNS"
            return self._give_up(line, span, kind, f"expected {expected} fields, found {fields}")
        self.fields = expected
        text = "".join(s.text for s in span)
        return Record(line, len(span), body_of(text), fields)

    def _give_up(self, line: Line, span: list[Line], kind: str, detail: str) -> BadLine:
        """Set `line` aside and put the lines read after it back, to be read again."""
        again = span[1:]
        self.pending.extendleft(reversed(again))
        self.rescanned += sum(s.size for s in again)
        self.set_aside = self.set_aside or line
        if self.rescanned > 2 * (line.offset + line.size) + self.rescan_floor:
            raise UnsynchronisableError(self.set_aside, line)
        if not again:
            return BadLine(line, kind, _MESSAGES.get(kind, "{detail}").format(detail=detail))
        # a record over several lines that cannot be right: the quote that opened it is
        # the likeliest culprit, whatever gave it away
        last = span[-1].number
        evidence = {
            "UNTERMINATED QUOTE": detail,
            "UNQUOTED VALUE": f"line {last}, where text follows the closing quote",
            "LINE BREAK IN FIELD": f"line {last}, which holds a lone line-break character",
            "LINE SIZE OVER MAXIMUM": "csv.max_line_bytes",
        }.get(kind, f"line {last}, making a record with the wrong number of fields ({detail})")
        return BadLine(
            line,
            "UNTERMINATED QUOTE",
            f"a quote opened on this line is not closed properly before {evidence}",
        )

    def _advance(self, body: str, state: int) -> tuple[int, int, str]:
        """Walk `body` from `state`: the state at its end (_QUOTED: the record goes on to the
        next line), the fields it completed, and the problem when the state is _BAD."""
        d, q, e, other = self.delimiter, self.quote, self.escape, self.other
        if state == _START and q not in body:  # most lines: no quoting at all
            if other in body:
                return _BAD, 0, "LINE BREAK IN FIELD"
            return _END, body.count(d) + 1, ""
        pos, end, fields = 0, len(body), 0
        while True:
            if state == _START:
                pos = _spaces(body, pos, d)
                if pos < end and body[pos] == q:
                    state, pos = _QUOTED, pos + 1
                    continue
                stop = body.find(d, pos)
                if body.find(other, pos, end if stop < 0 else stop) >= 0:
                    return _BAD, fields, "LINE BREAK IN FIELD"
                if stop < 0:
                    return _END, fields + 1, ""
                fields, pos = fields + 1, stop + 1
            elif state == _QUOTED:
                closing = body.find(q, pos)
                escaped = body.find(e, pos) if e != q else -1
                if escaped >= 0 and (closing < 0 or escaped < closing):
                    if escaped + 1 >= end:  # the escape takes the line break
                        return _QUOTED, fields, ""
                    pos = escaped + 2
                elif closing < 0:
                    return _QUOTED, fields, ""
                elif e == q and closing + 1 < end and body[closing + 1] == q:
                    pos = closing + 2
                else:
                    state, pos = _AFTER, closing + 1
            else:  # after a closing quote
                pos = _spaces(body, pos, d)
                if pos >= end:
                    return _END, fields + 1, ""
                if body[pos] != d:
                    return _BAD, fields, "UNQUOTED VALUE"
                state, fields, pos = _START, fields + 1, pos + 1


def _spaces(body: str, pos: int, delimiter: str) -> int:
    if delimiter == " ":
        return pos
    while pos < len(body) and body[pos] == " ":
        pos += 1
    return pos


_TOO_LONG = "the record starting on this line is longer than csv.max_line_bytes"
_MESSAGES = {
    "UNQUOTED VALUE": "text follows the closing quote of a quoted field",
    "LINE BREAK IN FIELD": "a lone line-break character (\\r or \\n) outside quotes",
    "LINE SIZE OVER MAXIMUM": _TOO_LONG,
}


def split_fields(text: str, fmt: CsvFormat) -> list[str]:
    """The values of one record's text (used for the header), by the source's dialect."""
    if fmt.escape == fmt.quote:
        reader = csv.reader([text], delimiter=fmt.delimiter, quotechar=fmt.quote, doublequote=True)
    else:
        reader = csv.reader(
            [text],
            delimiter=fmt.delimiter,
            quotechar=fmt.quote,
            doublequote=False,
            escapechar=fmt.escape,
        )
    values = next(reader, [""])
    return [v.strip(" ") for v in values]
