"""Finding the person an upsert means (SPEC 5; seeds 000 and 002).

Matching looks for the record with the same email (email_key: NFC, the local
part case-insensitive but never folded, services/emails.py), else for the
record whose full name (name_key: NFC, casefolded) is closest by Levenshtein
distance (rapidfuzz), a match when the distance is at most min(2, 20% of the
shorter name's length). Active records match first: the whole rule runs over
them, and only when it finds nobody over the archived ones. Candidates for a
name are read through an index on the name's length and narrowed by anchors
(_could_match).
"""
import collections
import unicodedata
from dataclasses import dataclass

from peewee import fn
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.errors import HttpConflict
from app.services.emails import email_key

MAX_NAME_DISTANCE = 2
MAX_NAME_DISTANCE_SHARE = 0.2
_LISTED_CANDIDATES = 10


def name_key(full_name):
    """A full name as matching compares it: NFC, casefolded, runs of whitespace one space."""
    if not full_name:
        return None
    folded = unicodedata.normalize("NFC", full_name).casefold()
    return unicodedata.normalize("NFC", " ".join(folded.split())) or None


@dataclass(frozen=True)
class Match:
    key: str
    matched_by: str        # "email" or "name"
    distance: int = None   # for a name match
    archived: bool = False  # the record was archived: writing to it makes it active


def allowed_distance(first, second):
    """The largest distance at which two names still match."""
    return min(MAX_NAME_DISTANCE, MAX_NAME_DISTANCE_SHARE * min(len(first), len(second)))


def find_match(resource, tenant_id, email, full_name, account_number=None, people=None):
    """The one record these details match (None: no match); HttpConflict when several do.

    Active records first (by email, then by name), then archived ones.
    `account_number` narrows the search to that account's contacts. `people`
    (a PeopleIndex of that scope, which a batch keeps) answers instead of the
    database: the same rule over the same records, without a query per upsert.
    """
    model = resource.model
    scope = [model.tenant == tenant_id]
    if account_number is not None:
        scope.append(model.account_number == account_number)
    if email:
        by_email = people.with_email(email_key(email)) if people is not None else \
            _by_email(resource, scope, email)
    else:
        by_email = []
    by_name = None
    for archived in (False, True):
        keys = [key for key, is_archived in by_email if is_archived == archived]
        if len(keys) > 1:
            raise _ambiguous(resource, tenant_id, "email", keys, email, account_number,
                             archived=archived)
        if keys:
            return Match(keys[0], "email", archived=archived)
        if by_name is None:
            wanted = name_key(full_name)
            by_name = people.close_to(wanted) if people is not None else \
                _by_name(resource, scope, wanted)
        close = [(key, distance) for key, distance, is_archived in by_name
                 if is_archived == archived]
        if close:
            best = min(distance for _, distance in close)
            keys = [key for key, distance in close if distance == best]
            if len(keys) > 1:
                raise _ambiguous(resource, tenant_id, "name", keys, full_name, account_number,
                                 archived=archived, distance=best, email=email)
            return Match(keys[0], "name", best, archived)
    return None


def _by_email(resource, scope, email):
    """[(key, archived)] of the records with this address."""
    model = resource.model
    return [(key, archived_at is not None) for key, archived_at in model.select(
        resource.key_column, model.archived_at).where(
        *scope, model.email_key == email_key(email)).tuples()]


def _by_name(resource, scope, wanted):
    """[(key, distance, archived)] of the records whose name is within the rule of `wanted`."""
    if not wanted:
        return []
    model, key_column = resource.model, resource.key_column
    close = _close_names(wanted, dict(model.select(key_column, model.name_key).where(
        *scope, *_could_match(model, wanted)).tuples()))
    if not close:
        return []
    # Read apart from the covering index the candidates came through: only for the few close.
    archived = {key for (key,) in model.select(key_column).where(
        *scope, key_column.in_(list(close)), model.archived_at.is_null(False)).tuples()}
    return [(key, distance, key in archived) for key, distance in close.items()]


def _close_names(wanted, candidates):
    """{key: distance} of the candidates ({key: name_key}) within the rule of `wanted`."""
    scored = process.extract(wanted, candidates, scorer=Levenshtein.distance,
                             score_cutoff=MAX_NAME_DISTANCE, limit=None)
    return {key: distance for name, distance, key in scored
            if distance <= allowed_distance(wanted, name)}


def _could_match(model, wanted):
    """Conditions every name within the allowed distance of `wanted` meets (a superset).

    A match needs lengths within 2. And it keeps an anchor: with at most two
    edits (names of 10 characters and more) either the stored name's first
    two characters survive, or its last two, or both edits fall on those ends
    and its characters 3-4 survive, moved by at most one place; a name of
    5-9 characters allows one edit, which cannot break both ends; shorter
    names must be equal. Read through a covering index on (tenant, length,
    name, key), this leaves a few thousand candidates among 100,000 people.
    """
    length = len(wanted)
    return [model.name_length.between(length - MAX_NAME_DISTANCE, length + MAX_NAME_DISTANCE),
            (fn.SUBSTR(model.name_key, 1, 2) == wanted[:2])
            | (fn.SUBSTR(model.name_key, model.name_length - 1, 2) == wanted[-2:])
            | fn.SUBSTR(model.name_key, 3, 2).in_([wanted[1:3], wanted[2:4], wanted[3:5]])]


def _most_edits(length):
    """The most edits a name of this length can match within (the shorter name rules)."""
    return int(min(MAX_NAME_DISTANCE, MAX_NAME_DISTANCE_SHARE * length))


def _pieces(length):
    """(start, size) of the pieces a name of this length is filed under: with `k` edits
    allowed, a matching name keeps all but `k` of them whole (each moved by at most `k`
    places); more pieces than k + 1 where the name is long enough for pieces of 3."""
    edits = _most_edits(length)
    count = max(edits + 1, min(edits + 3, length // 3))
    bounds = [length * n // count for n in range(count + 1)]
    return [(bounds[n], bounds[n + 1] - bounds[n]) for n in range(count)]


def _filed_under(name):
    """Where a stored name is filed in a PeopleIndex: its length, and each piece in place."""
    return [(len(name), n, name[begin:begin + size])
            for n, (begin, size) in enumerate(_pieces(len(name)))]


class PeopleIndex:
    """One scope's people (an account's contacts, or the tenant's representatives) in memory.

    A batch of matching upserts reads its scope once, while its transaction
    holds the collection (no other writer changes it), and records each row it
    writes (`record`); matching then asks the index. Its candidates are found
    another way than the queries' (close_to), a superset of the names within
    the rule as theirs are, and the rule itself (_close_names) is the same.
    """

    def __init__(self, resource, tenant_id, account_number=None):
        model = resource.model
        self.key_field = resource.key_field
        self._people = {}                       # key -> (email_key, name_key, archived)
        self._emails = collections.defaultdict(set)
        self._filed = collections.defaultdict(set)
        query = model.select(resource.key_column, model.email_key, model.name_key,
                             model.archived_at.is_null(False)).where(model.tenant == tenant_id)
        if account_number is not None:
            query = query.where(model.account_number == account_number)
        for key, address, name, archived in query.tuples():
            self._add(key, address, name, bool(archived))

    def _add(self, key, address, name, archived):
        self._people[key] = (address, name, archived)
        if address is not None:
            self._emails[address].add(key)
        if name is not None:
            for place in _filed_under(name):
                self._filed[place].add(key)

    def record(self, row):
        """A row the batch wrote: matching sees it as it is now."""
        key = getattr(row, self.key_field)
        if key in self._people:
            address, name, _ = self._people.pop(key)
            self._emails[address].discard(key)
            for place in _filed_under(name) if name is not None else ():
                self._filed[place].discard(key)
        self._add(key, row.email_key, row.name_key, row.archived_at is not None)

    def with_email(self, address):
        """[(key, archived)] of the people with this email key."""
        return [(key, self._people[key][2]) for key in self._emails.get(address, ())]

    def close_to(self, wanted):
        """[(key, distance, archived)] of the people whose name is within the rule of `wanted`.

        A stored name within `k` edits of `wanted` keeps all but `k` of its
        pieces whole, each moved by at most `k` places. So it is filed under at
        least one of any k + 1 of the pieces' places: the k + 1 with the fewest
        names give the candidates, and a candidate must be under all but `k`.
        """
        if not wanted:
            return []
        keys = set()
        for length in range(max(1, len(wanted) - MAX_NAME_DISTANCE),
                            len(wanted) + MAX_NAME_DISTANCE + 1):
            edits = _most_edits(length)
            pieces = []  # per piece: the sets of names filed under its places
            for n, (begin, size) in enumerate(_pieces(length)):
                pieces.append([found for at in range(
                    max(0, begin - edits), min(len(wanted) - size, begin + edits) + 1)
                    if (found := self._filed.get((length, n, wanted[at:at + size])))])
            pieces.sort(key=lambda places: sum(map(len, places)))
            seeds = set().union(*(found for places in pieces[:edits + 1] for found in places))
            if not seeds:
                continue
            under = collections.Counter()  # how many pieces each seed is filed under
            for places in pieces:
                under.update(set().union(*(seeds & found for found in places)))
            needed = len(pieces) - edits
            keys.update(key for key, count in under.items() if count >= needed)
        close = _close_names(wanted, {key: self._people[key][1] for key in keys})
        return [(key, distance, self._people[key][2]) for key, distance in close.items()]


def _ambiguous(resource, tenant_id, matched_by, keys, sent, account_number, archived,
               distance=None, email=None):
    """409: what was ambiguous, the candidates, and how the caller can say which one it means."""
    keys = sorted(keys)
    label = resource.label + "s"
    whose = (f"of account {account_number!r}" if account_number is not None
             else "of this tenant")
    qualifier = "archived " if archived else ""
    none_active = " (no active one matched)" if archived else ""
    listed = _describe(resource, tenant_id, keys)
    by_reference = f"PUT or PATCH /{resource.name}/{{reference}}"
    if matched_by == "email":
        detail = (f"{len(keys)} {qualifier}{label} {whose} have the email address {sent!r}"
                  f"{none_active}: {listed}. The address cannot tell which one you mean, so "
                  f"nothing was changed. Write to the one you mean by its reference "
                  f"({by_reference}), or give the others an address of their own first.")
    else:
        how_close = (f"have the name {sent!r}" if distance == 0 else
                     f"are equally close to the name {sent!r} (distance {distance})")
        detail = (f"{len(keys)} {qualifier}{label} {whose} {how_close}{none_active}: {listed}. "
                  "The name cannot tell which one you mean, so nothing was changed. ")
        if email:
            detail += (f"The email address {email!r} matched none of them: "
                       + ("send the exact stored name of the one you mean, or " if distance
                          else "")
                       + f"write to it by its reference ({by_reference}) and give it this "
                       "address, so that later upserts find it by email.")
        else:
            detail += ("Send the email address of the one you mean, "
                       + ("or its exact stored name, " if distance else "")
                       + f"or write to it by its reference ({by_reference}).")
    extra = {"distance": distance} if matched_by == "name" else {}
    return HttpConflict(detail, candidates=keys, matched_by=matched_by, archived=archived, **extra)


def _describe(resource, tenant_id, keys):
    """'C1 (Ann Lee), C2 (Bob Roe)': the first candidates with their stored names."""
    model = resource.model
    columns = [resource.key_column] + [getattr(model, name) for name in resource.name_fields]
    shown = keys[:_LISTED_CANDIDATES]
    names = {row[0]: resource.full_name(dict(zip(resource.name_fields, row[1:])))
             for row in model.select(*columns).where(
                 model.tenant == tenant_id, resource.key_column.in_(shown)).tuples()}
    parts = [f"{key} ({names[key]})" if names.get(key) else key for key in shown]
    more = len(keys) - len(shown)
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")
