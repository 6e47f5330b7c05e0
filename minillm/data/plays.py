"""Labelled data read off the shipped corpus: its eight plays, their speeches and speakers.

``shakespeare.txt`` is eight Project Gutenberg plays one after another. Each starts with its
title, "by William Shakespeare" two lines below, then a list of the persons of the play, then
the acts. The body is blocks separated by blank lines; a speech is a block whose first line
names the speaker, in one of three styles the editions use::

    Ham.                 (Hamlet, Romeo and Juliet, King Lear: abbreviated, mixed case)
    FIRST WITCH.         (Macbeth, Julius Caesar, Othello, The Tempest: capitals and a full stop)
    THESEUS              (A Midsummer Night's Dream: capitals only)

Other blocks are stage directions in brackets, act and scene headings, or the rest of a speech
that a stage direction interrupted (it goes on without naming the speaker again, and we attach
it to the speech before). Bracketed stage directions inside a speech are removed.

``load_plays`` returns the plays; ``play_classification`` (sequence classification: which play
does a speech come from) and ``person_tagging`` (token classification: BIO tags of the person
names in a speech) build labelled splits from them (``play_tasks.py``).
"""

import re
from dataclasses import dataclass, field
from importlib import resources

_PART = r"[A-Z0-9][A-Za-z0-9']*\.?"
# a speaker line: "Ham.", "1 Clown.", "Lady Capulet.", "Cor. and Volt.", "Oph. [Sings.]", or
# all capitals ("FIRST WITCH.", "MACBETH, LENNOX.", "THESEUS")
_SPEAKER = re.compile(
    rf"^(?:{_PART}(?: +{_PART}){{0,3}}(?: +and +{_PART}(?: +{_PART})?)?(?<=\.)(?: \[[^\]]*\])?"
    r"|[A-Z][A-Z' ,.]*[A-Z.])$"
)
_HEADING = re.compile(r"^(?:ACT|SCENE|Scene|THE END|THE PROLOGUE|EPILOGUE)\b")
_BODY_START = re.compile(r"^(?:ACT |THE PROLOGUE)")
_STAGE_DIRECTION = re.compile(r"\[[^\[\]]*\]")
_SCENE_LINE = re.compile(r"^(?:SCENE|Scene)\b")
_PERSONS_HEADING = re.compile(r"^(?:PERSONS REPRESENTED|Persons Represented|DRAMATIS PERSONAE)")
_BY_LINE = "by William Shakespeare"
_SMALL_WORDS = {"and", "of", "a", "the"}


@dataclass
class Speech:
    """One speech: who says it, its lines (stage directions removed) and where it starts.

    ``play``: index of the play in ``load_plays()``; ``speaker``: the speaker line as printed,
    without the full stop ("Ham", "FIRST WITCH"); ``lines``: the spoken lines, stripped;
    ``line``: the 1-based line number of the speaker line in shakespeare.txt.
    """

    play: int
    speaker: str
    lines: list[str]
    line: int

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)


@dataclass
class Play:
    """One play: its title as printed, a short name, the persons list and the speeches.

    ``persons``: the lines of the list of persons at the head of the play, stripped.
    """

    title: str
    name: str
    persons: list[str]
    speeches: list[Speech] = field(default_factory=list)


def short_name(title: str) -> str:
    """ "THE TRAGEDY OF KING LEAR" -> "King Lear"; "HAMLET, PRINCE OF DENMARK" -> "Hamlet"."""
    title = title.split(",")[0].removeprefix("THE TRAGEDY OF ")
    words = [
        w.lower() if w.lower() in _SMALL_WORDS else w[0] + w[1:].lower() for w in title.split()
    ]
    return " ".join([words[0][0].upper() + words[0][1:], *words[1:]])


def _speaker_name(line: str) -> str:
    name = re.sub(r" *\[[^\]]*\]$", "", line.strip())  # "Oph. [Sings.]" -> "Oph."
    return re.sub(r"\s+", " ", name).rstrip(".")


def _blocks(lines: list[str], first: int):
    """(line number, block lines) for each run of non-blank lines; first = number of lines[0]."""
    block, start = [], first
    for n, line in enumerate(lines, first):
        if line.strip():
            if not block:
                start = n
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _parse_body(index: int, lines: list[str], first: int) -> list[Speech]:
    blocks = list(_blocks(lines, first))
    # the speaker lines of this play, to find "Fool. Let me hire him too" (name and speech on
    # one line) in a second pass
    known = {b[0] for _, b in blocks if len(b) > 1 and _SPEAKER.match(b[0])}
    known = {k for k in known if not _HEADING.match(k)}
    speeches, current = [], None
    for start, block in blocks:
        head = block[0]
        inline = next((k for k in known if head.startswith(k + " ")), None)
        if _HEADING.match(head):
            current = None  # a new act or scene: nothing carries over
        elif head in known or (_SPEAKER.match(head) and len(block) == 1):
            current = Speech(index, _speaker_name(head), block[1:], start)
            speeches.append(current)
        elif inline is not None:
            current = Speech(index, _speaker_name(inline), [head[len(inline) :], *block[1:]], start)
            speeches.append(current)
        elif head.lstrip().startswith("["):
            continue  # a stage direction between two parts of a speech
        elif current is not None:
            current.lines.extend(block)  # the speech goes on after a stage direction
    for s in speeches:
        text = _STAGE_DIRECTION.sub("", "\n".join(s.lines))
        s.lines = [line.strip() for line in text.split("\n") if line.strip()]
    return [s for s in speeches if s.lines]


def load_plays(text: str | None = None) -> list[Play]:
    """The plays of the shipped corpus (or of ``text`` laid out the same way), in order.

    Raises ValueError when the text has no "by William Shakespeare" line.
    """
    if text is None:
        text = resources.files("minillm.data").joinpath("shakespeare.txt").read_text("utf-8")
    lines = text.split("\n")
    title_rows = [i - 2 for i, line in enumerate(lines) if line.strip() == _BY_LINE and i >= 2]
    if not title_rows:
        raise ValueError(f"load_plays: no {_BY_LINE!r} line, so no play to read")
    plays = []
    for k, row in enumerate(title_rows):
        end = title_rows[k + 1] if k + 1 < len(title_rows) else len(lines)
        body = next((i for i in range(row + 3, end) if _BODY_START.match(lines[i])), end)
        # the persons list: after its heading ("PERSONS REPRESENTED", "DRAMATIS PERSONAE"),
        # before the description of the scene that ends it
        region = [line.strip() for line in lines[row + 3 : body] if line.strip()]
        scene = next((i for i, line in enumerate(region) if _SCENE_LINE.match(line)), len(region))
        persons = [line for line in region[:scene] if not _PERSONS_HEADING.match(line)]
        title = lines[row].strip()
        play = Play(title, short_name(title), persons)
        play.speeches = _parse_body(k, lines[body:end], body + 1)
        plays.append(play)
    return plays
