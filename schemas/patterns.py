"""The fixed character rules of keys and text, and the regular expressions that state
field rules in the OpenAPI document.

The excluded characters are listed here, not read from the interpreter's Unicode
tables (str.isprintable, unicodedata), so that a key valid today stays valid after
an upgrade. The server's checks and the document's patterns are built from the same
lists, so the two cannot drift apart; tests compare them on edge cases.
"""
import functools
import re

# The end of the text: Python's `$` also matches before a final line break, ECMA's does not.
END = r"$(?!\n)"

CONTROL_CHARACTERS = ((0x00, 0x1F), (0x7F, 0x9F))  # C0, DEL and C1
# Unicode's format characters (general category Cf) as of Unicode 15.1: soft hyphen,
# zero-width spaces and joiners, bidirectional controls, the BOM, tag characters...
FORMAT_CHARACTERS = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F))
SURROGATES = ((0xD800, 0xDFFF),)
# Unicode's White_Space characters that are not controls: none may start or end a key.
EDGE_WHITESPACE = ((0x0020, 0x0020), (0x00A0, 0x00A0), (0x1680, 0x1680), (0x2000, 0x200A),
                   (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000))


def _code(code):
    """One code point as both Python's re and ECMA-262 (with the u flag) read it: astral
    characters literally (neither shares an escape for them), the rest as \\xXX or \\uXXXX."""
    if code > 0xFFFF:
        return chr(code)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def character_set(*ranges, extra=""):
    """The inside of a regular-expression class holding the ranges (and `extra`, escaped)."""
    parts = [_code(low) if low == high else f"{_code(low)}-{_code(high)}"
             for group in ranges for low, high in group]
    return re.escape(extra) + "".join(parts)


TEXT_FORBIDDEN = character_set(CONTROL_CHARACTERS, FORMAT_CHARACTERS, SURROGATES)
# Surrogates are left out of the document's patterns: Rust's and Go's regular expressions
# refuse them, and no JSON parser outside Python hands a lone one to a validator.
_KEY_FORBIDDEN_IN_JSON = character_set(CONTROL_CHARACTERS, FORMAT_CHARACTERS, extra="/")
_TEXT_FORBIDDEN_IN_JSON = character_set(CONTROL_CHARACTERS, FORMAT_CHARACTERS)
# Whitespace at a key's edge, controls included (tab, line breaks, U+001C-U+001F, U+0085).
WHITESPACE = character_set(((0x09, 0x0D), (0x1C, 0x1F), (0x85, 0x85)), EDGE_WHITESPACE)
EDGE_SPACES = character_set(EDGE_WHITESPACE)  # in a key, where controls are refused anyway


@functools.cache
def key_pattern(max_length):
    """validate_key as one regular expression: 1 to max_length characters, none of them
    '/', a control or format character; no whitespace at either end; not '.' or '..'
    (and no surrogates, which the document states in words)."""
    return (rf"^(?!\.\.?{END})(?![{EDGE_SPACES}])(?![\s\S]*[{EDGE_SPACES}]{END})"
            rf"[^{_KEY_FORBIDDEN_IN_JSON}]{{1,{max_length}}}{END}")


@functools.cache
def text_pattern():
    """SearchText's rule as a regular expression: no control or format character (nor a
    surrogate, stated in words)."""
    return rf"^[^{_TEXT_FORBIDDEN_IN_JSON}]*{END}"


def character_class(predicate):
    """A regular-expression class of the Latin-1 characters for which `predicate` holds
    (header values: a small class)."""
    ranges, start = [], None
    for code in range(0x100):
        if predicate(chr(code)):
            if start is None:
                start = code
        elif start is not None:
            ranges.append((start, code - 1))
            start = None
    if start is not None:
        ranges.append((start, 0xFF))
    return "[" + character_set(ranges) + "]"


def _either_case(letters):
    return "".join(f"{letter.lower()}{letter.upper()}" for letter in letters)


def _alternatives(codes):
    """Codes of one length, each letter in either case, common first letters factored out
    ("[aA](?:[eE][dD]|[fF][nN])", the last letters as one class: "[eE][nNsS]")."""
    if all(len(code) == 1 for code in codes):
        return f"[{_either_case(sorted(codes))}]"
    groups = {}
    for code in sorted(codes):
        groups.setdefault(code[0], []).append(code[1:])
    parts = []
    for first, rests in groups.items():
        inner = _alternatives(rests)
        parts.append(f"[{_either_case(first)}]" + (f"(?:{inner})" if "|" in inner else inner))
    return "|".join(parts)


@functools.cache
def code_pattern(codes):
    """Every code of the list, each letter in either case; a body's strings are stripped
    first (of the server's whitespace, not ECMA's \\s: it also strips U+001C-U+001F and
    U+0085), so surrounding whitespace is fine, and a blank string is null."""
    return rf"^[{WHITESPACE}]*(?:(?:{_alternatives(codes)})[{WHITESPACE}]*)?{END}"
