"""Regular expressions that state the field rules in the OpenAPI document.

Each is derived from the predicate or list the server itself checks, so the
document and the server cannot drift apart; tests compare them on edge cases.
"""
import functools

# The end of the text: Python's `$` also matches before a final line break, ECMA's does not.
END = r"$(?!\n)"


@functools.cache
def character_class(predicate):
    """A regular-expression class of every code point for which `predicate` holds.

    The OpenAPI document states the key and text rules with it, derived from
    the very predicates the server checks, so the two cannot drift apart.
    """
    ranges, start = [], None
    for code in range(0x110000):
        if predicate(chr(code)):
            if start is None:
                start = code
        elif start is not None:
            ranges.append((start, code - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))

    def literal(code):
        character = chr(code)
        return "\\" + character if character in "\\]^-[" else character
    return "[" + "".join(literal(low) if low == high else f"{literal(low)}-{literal(high)}"
                         for low, high in ranges) + "]"


def _is_key_character(character):
    """A character a key may hold anywhere (a space may stand inside a key, not at its ends)."""
    return character.isprintable() and character not in "/ \ufffd"


@functools.cache
def key_pattern(max_length):
    """validate_key as a regular expression: 1 to max_length printable characters, no '/',
    no space at either end, not '.' or '..'."""
    allowed = character_class(_is_key_character)[:-1] + " ]"  # the class once: it is large
    return rf"^(?!\.\.?$| |[\s\S]* $){allowed}{{1,{max_length}}}{END}"


def _is_printable(character):
    return character.isprintable()


@functools.cache
def printable_pattern():
    """str.isprintable() as a regular expression: no control, format or unassigned
    characters, no line breaks, no lone surrogates."""
    return rf"^{character_class(_is_printable)}*{END}"


@functools.cache
def code_pattern(codes):
    """Every code of the list, each letter in either case ("[eE][nN]"); a body's
    strings are stripped first, so surrounding whitespace is fine."""
    spelled = ("".join(f"[{letter.lower()}{letter.upper()}]" for letter in code)
               for code in sorted(codes))
    return rf"^\s*(?:{'|'.join(spelled)})\s*{END}"
