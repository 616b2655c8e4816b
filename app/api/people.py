"""Matching upserts of people without references, party routing, and email events (SPEC 5)."""
from flask import g, jsonify, url_for

from app import metrics
from app.api import (BATCH_RATE_LIMIT_COST, IngestBlueprint, body_limit, bulk, costs,
                     key_in_basic_auth, singular)
from app.api.collections import bulk_post
from app.api.description import PEOPLE_TAG, see
from app.api.parsing import (SYNC_RUN_HEADER, preconditions_from_request, read_json_value,
                             sync_run_from_request)
from app.errors import ValidationFailed
from app.models import Tenant
from app.resources.contacts import CONTACTS
from app.resources.representatives import REPRESENTATIVES
from app.services import email_events as email_events_service
from app.services import mail_providers, people, people_batch
from app.services.records import etag
from schemas.people import (BatchUpsertArgsSchema, ContactUpsertItemSchema,
                            ContactUpsertResultSchema, ContactUpsertSchema, EmailEventSchema,
                            EmailEventsResultSchema, EmailEventsSchema,
                            PartiesUpsertResultSchema, PartyUpsertItemSchema,
                            PartyUpsertResultSchema, PartyUpsertSchema, PeopleUpsertResultSchema,
                            PostmarkWebhookSchema, RepresentativeUpsertItemSchema,
                            RepresentativeUpsertResultSchema, RepresentativeUpsertSchema,
                            SendGridEventSchema, UpsertArgsSchema, UpsertDryRunSchema,
                            UpsertItemsSchema, item_loader)

blp = IngestBlueprint("people", __name__, description=PEOPLE_TAG)

_RECORD_ENDPOINTS = {CONTACTS: "contacts.ContactRecord",
                     REPRESENTATIVES: "representatives.RepresentativeRecord"}
_PARTY_TYPES = {CONTACTS: "contact", REPRESENTATIVES: "representative"}
_OK = "Matched and changed (or unchanged); with dry_run=true, what would happen (no change)"


def _match_fields(result):
    match = result.match
    return {"matched_by": match.matched_by if match else None,
            "distance": match.distance if match else None,
            "name_kept": result.name_kept, "reactivated": result.reactivated}


def _options(dry_run, update_name):
    """The upsert as the request asks for it: flags, Sync-Run, If-Match / If-None-Match."""
    return people.UpsertOptions(dry_run=dry_run, update_name=update_name,
                                sync_run=sync_run_from_request(),
                                preconditions=preconditions_from_request())


def _answer(result, party=False):
    """201 + Location for a created record, 200 for a matched one, or the dry run's answer."""
    resource = result.resource
    party_type = {"party_type": _PARTY_TYPES[resource]} if party else {}
    if result.dry_run:
        return jsonify(dry_run=True, would="create" if result.created else "update",
                       **_match_fields(result), **party_type,
                       record=resource.schema.dump(result.row) if result.row else None)
    headers = {"ETag": etag(result.row)}
    if result.created:
        headers["Location"] = url_for(_RECORD_ENDPOINTS[resource], **{
            resource.key_field: getattr(result.row, resource.key_field)})
    if party:
        body = dict(party_type, **_match_fields(result), record=resource.schema.dump(result.row))
    else:
        body = result.row
        for name, value in _match_fields(result).items():
            setattr(body, name, value)
    return body, 201 if result.created else 200, headers


def _answers(result_schema):
    """The 200 answer of an upsert: the record written, or what a dry run would do."""
    return {200: {"content": {"application/json": {"schema": {
        "oneOf": [result_schema, UpsertDryRunSchema]}}}}}



_MATCHING = see("Matching", where="the people tag")
_EVENTS = see("Email events", where="the people tag")

_PRECONDITION_HEADERS = [
    {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
     "description": 'Only write when the matched record is at this version ("3"); 412 when '
                    "it is not, or when nobody matched."},
    {"in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
     "description": "`*`: only create, 412 when a record matched."},
]
_PARTY_SYNC_RUN_HEADER = dict(SYNC_RUN_HEADER, description=(
    "The id of a running sync run of the collection the person goes to (contacts or "
    "representatives): the record counts as seen (no new version)."))


def _register_upsert(path, resource, body_schema, result_schema, summary):
    @blp.route(path, endpoint=f"upsert_{resource.name}", methods=["PUT"])
    @blp.doc(summary=summary, operationId=f"upsertAccount{singular(resource)}",
             responses=_answers(result_schema), description=_MATCHING)
    @blp.headers(*_PRECONDITION_HEADERS, SYNC_RUN_HEADER)
    @blp.query(UpsertArgsSchema())
    @blp.arguments(body_schema)
    @blp.response(200, result_schema, description=_OK)
    @blp.alt_response(201, schema=result_schema, success=True, description="Created")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def upsert(data, account_number, dry_run, update_name):
        return _answer(people.upsert_person(resource, g.tenant_id, account_number, data,
                                            _options(dry_run, update_name)))
    return upsert


_register_upsert("/accounts/<account_number>/contacts/upsert", CONTACTS,
                 ContactUpsertSchema(partial=True),
                 ContactUpsertResultSchema(),
                 "Create or update one of the account's contacts, found by email or name")
_register_upsert("/accounts/<account_number>/representatives/upsert", REPRESENTATIVES,
                 RepresentativeUpsertSchema(partial=True),
                 RepresentativeUpsertResultSchema(),
                 "Create or update a representative found by email or name, and link it to "
                 "the account")


@blp.route("/accounts/<account_number>/party/upsert", endpoint="upsert_party", methods=["PUT"])
@blp.doc(summary="Create or update a person: staff (an internal email domain) become "
                 "representatives, anyone else a contact of the account",
         operationId="upsertAccountParty", responses=_answers(PartyUpsertResultSchema),
         description="An email whose domain is one of the tenant's internal domains goes to "
                     "the representatives (matched over the whole tenant, then linked to the "
                     "account), any other to the account's contacts. " + _MATCHING)
@blp.headers(*_PRECONDITION_HEADERS, _PARTY_SYNC_RUN_HEADER)
@blp.query(UpsertArgsSchema())
@blp.arguments(PartyUpsertSchema(partial=True))
@blp.response(200, PartyUpsertResultSchema(), description=_OK)
@blp.alt_response(201, schema=PartyUpsertResultSchema(), success=True, description="Created")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def upsert_party(data, account_number, dry_run, update_name):
    tenant = Tenant.get_by_id(g.tenant_id)
    return _answer(people.upsert_party(tenant, account_number, data,
                                       _options(dry_run, update_name)), party=True)




def _register_batch_upsert(target, name, item_schema_class, result_schema, summary):
    loader = item_loader(item_schema_class)
    word = name.title()

    @bulk_post(blp, f"/{name}:upsert", f"{name}_upsert", f"batchUpsert{word}ByMatch", summary,
               UpsertItemsSchema, item_schema_class, result_schema(),
               envelope_name=f"{word}UpsertItems", metric=f"{name}-upsert",
               query=BatchUpsertArgsSchema(), headers=(SYNC_RUN_HEADER,),
               description=see("Batch matching", "Matching", where="the people tag"))
    def upsert_many(items, atomic, dry_run, update_name):
        options = people.UpsertOptions(dry_run=dry_run, update_name=update_name,
                                       sync_run=sync_run_from_request())
        return people_batch.batch_upsert_people(target, Tenant.get_by_id(g.tenant_id), items,
                                                loader, options, atomic)
    return upsert_many


_register_batch_upsert(CONTACTS, "contacts", ContactUpsertItemSchema, PeopleUpsertResultSchema,
                       "Create or update up to 1,000 contacts, each found by email or name "
                       "among its account's")
_register_batch_upsert(REPRESENTATIVES, "representatives", RepresentativeUpsertItemSchema,
                       PeopleUpsertResultSchema,
                       "Create or update up to 1,000 representatives, each found by email or "
                       "name, and link each to its account")
_register_batch_upsert(None, "parties", PartyUpsertItemSchema, PartiesUpsertResultSchema,
                       "Create or update up to 1,000 people, each routed by its email's "
                       "domain to the representatives or the account's contacts")


@bulk_post(blp, "/email-events", "email_events", "recordEmailEvents",
           "Record email delivery events (delivered, bounced, complained, dropped, deferred)",
           EmailEventsSchema, EmailEventSchema, EmailEventsResultSchema(),
           envelope_name="EmailEvents", metric="email-events", limit_setting="MAX_BODY_BYTES",
           description="Events in the API's own form. " + _EVENTS)
def email_events(events):
    return email_events_service.record_email_events(g.tenant_id,
                                                    email_events_service.native_events(events))


def _register_provider(provider, title, body_kind, body_doc, translate, description):
    @blp.route(f"/email-events/{provider}", endpoint=f"email_events_{provider}",
               methods=["POST"])
    @blp.doc(summary=f"Record {title}'s webhook events, sent as {title} sends them",
             operationId=f"record{title}EmailEvents", description=f"{description} {_EVENTS}",
             requestBody={"required": True, "content": {"application/json": {
                 "schema": body_doc}}},
             security=[{"ApiKey": []}, {"WebhookBasic": []}])
    @costs(BATCH_RATE_LIMIT_COST)
    @body_limit("MAX_BODY_BYTES")
    @bulk
    @key_in_basic_auth
    @blp.response(200, EmailEventsResultSchema())
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def record():
        body = read_json_value(body_kind)
        # No count limit: SendGrid sizes its batches by bytes (MAX_BODY_BYTES bounds them).
        if body_kind is list and not body:
            raise ValidationFailed([{"pointer": "#", "detail": "Send at least one event."}])
        result = email_events_service.record_email_events(g.tenant_id, translate(body))
        metrics.count_batch("email-events", {outcome: result[outcome]
                                             for outcome in EmailEventsResultSchema.OUTCOMES})
        return result
    return record


_register_provider("sendgrid", "SendGrid", list, {"type": "array", "items": SendGridEventSchema,
                                                  "minItems": 1},
                   mail_providers.sendgrid_events, (
                       "The body of SendGrid's Event Webhook: an array of events, answered "
                       "one result each, in order; errors point into the array (#/2/email)."))
_register_provider("postmark", "Postmark", dict, PostmarkWebhookSchema,
                   mail_providers.postmark_events, (
                       "The body of a Postmark bounce, spam-complaint or delivery webhook: one "
                       "event, answered as a list of one result."))
