"""The guards of a sync run's finish: when what it would remove says the export is wrong.

- `min_seen`: the run saw fewer records than this (stated at the start, or at the finish,
  which overrides it).
- `max_removals`: it would remove (delete or archive) more records than this.
- `max_removal_ratio`: it would remove more than this share of the scope. Default 0.2;
  a finish that states max_removals and no ratio gets no ratio guard, since it stated an
  absolute count instead. Both apply when both are stated.

The first guard that fails (in that order) refuses the finish; nothing is removed.
"""
from dataclasses import dataclass, field

from schemas.sync_runs import DRY_RUN_KEYS

DEFAULT_MAX_REMOVAL_RATIO = 0.2


@dataclass(frozen=True)
class Guards:
    """What a finish states (None: not stated)."""

    max_removal_ratio: float | None = None
    max_removals: int | None = None
    min_seen: int | None = None

    def applied(self, start_min_seen=None):
        """The guards in force, given the start's min_seen: {name: limit or None}."""
        ratio = self.max_removal_ratio
        if ratio is None and self.max_removals is None:
            ratio = DEFAULT_MAX_REMOVAL_RATIO
        return {"min_seen": self.min_seen if self.min_seen is not None else start_min_seen,
                "max_removals": self.max_removals, "max_removal_ratio": ratio}


NO_GUARDS = Guards()


@dataclass(frozen=True)
class Refusal:
    """The guard that refuses a finish, its setting, what was found, and why in words."""

    guard: str
    limit: float
    actual: float
    detail: str

    def figures(self):
        """The guard, its limit and the actual figure (as the problem and a dry run name them)."""
        return {"guard": self.guard, "limit": self.limit, "actual": self.actual}


def refusal(resource, guards, counts):
    """The Refusal of a finish with these counts under these applied guards, or None."""
    name, total, seen = resource.name, counts["in_scope"], counts["seen"]
    removing = counts["deleted"] + counts["archived"]
    nothing = "; nothing was removed and the run is still running."
    if guards["min_seen"] is not None and seen < guards["min_seen"]:
        return Refusal("min_seen", guards["min_seen"], seen, (
            f"The run saw {seen} {name}, fewer than min_seen {guards['min_seen']}: the export "
            f"looks incomplete{nothing} Send the rest, or finish with a lower min_seen."))
    if guards["max_removals"] is not None and removing > guards["max_removals"]:
        return Refusal("max_removals", guards["max_removals"], removing, (
            f"Finishing would remove {removing} {name}, more than max_removals "
            f"{guards['max_removals']}{nothing} Check the export, or finish with a higher "
            "max_removals."))
    ratio = guards["max_removal_ratio"]
    if ratio is not None and total and removing / total > ratio:
        return Refusal("max_removal_ratio", ratio, round(removing / total, 6), (
            f"Finishing would remove {removing} of the {total} {name} in scope "
            f"({removing / total:.0%}), more than max_removal_ratio {ratio}{nothing} Check "
            "the export, or finish with a higher max_removal_ratio or a max_removals."))
    return None


@dataclass
class FinishPlan:
    """What a finish would do now: the rows it would delete and archive, their counts, the
    guards in force and the refusal among them (None: it would go ahead)."""

    resource: object
    guards: dict
    counts: dict
    to_delete: list
    to_archive: list
    refusal: Refusal | None = field(init=False)

    def __post_init__(self):
        self.refusal = refusal(self.resource, self.guards, self.counts)

    def first_keys(self, rows):
        """The first DRY_RUN_KEYS keys of these rows, in key order."""
        return sorted(getattr(row, self.resource.key_field) for row in rows)[:DRY_RUN_KEYS]
