"""What people (contacts, representatives) add to a resource: email status and the keys
matching reads."""
from app.models import EmailStatus
from app.services.emails import email_key
from app.services.matching import name_key


class PersonResource:
    """For people (contacts, representatives): email status and the keys matching reads.

    `email_status` belongs to the address: a record that gets an address
    (created with it, or changed to it; a change of case is the same address)
    takes the address's last known status from the email events, `valid` for
    an address never seen; it is null without an address. `email_key`,
    `name_key` and `name_length` are what matching upserts and email events
    look up by.
    """

    name_fields = ("name",)  # what the full name is made of, in order

    def full_name(self, values):
        """`name`, else the other name fields joined; None without any."""
        if values.get("name"):
            return values["name"]
        joined = " ".join(values[field] for field in self.name_fields[1:] if values.get(field))
        return joined or None

    def prefetch_for(self, ctx, entries):
        """Also the last known status of every address the items give their records (an
        address a record keeps needs none)."""
        super().prefetch_for(ctx, entries)
        known = ctx.state("email_statuses", dict)
        wanted = {self._new_address(ctx, key, values) for key, values in entries} - {None}
        wanted -= set(known)
        known.update(dict.fromkeys(wanted, "valid"))
        wanted = list(wanted)
        for start in range(0, len(wanted), 500):
            known.update(EmailStatus.select(EmailStatus.email_key, EmailStatus.status).where(
                EmailStatus.tenant == ctx.tenant_id,
                EmailStatus.email_key.in_(wanted[start:start + 500])).tuples())

    def _new_address(self, ctx, key, values):
        if not values.get("email"):
            return None
        address = email_key(values["email"])
        row = ctx.record(self.model, self.key_field, key) if key is not None else None
        return None if row is not None and row.email_key == address else address

    def derived_values(self, ctx, values, row):
        derived = super().derived_values(ctx, values, row)
        email = values["email"]
        key = name_key(self.full_name(values))
        derived.update(email_key=email_key(email), name_key=key,
                       name_length=len(key) if key else None)
        if email is None:
            derived["email_status"] = None
        elif row is None or row.email is None or row.email_key != derived["email_key"]:
            derived["email_status"] = ctx.state("email_statuses", dict).get(
                derived["email_key"], "valid")
        return derived
