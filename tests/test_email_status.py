"""Email status follows the address (SPEC 5), and mail services' webhooks as they send them."""
import base64
import copy

import pytest

from app.models import EmailStatus
from helpers import assert_problem

ADDRESS = "example@test.com"

# SendGrid's Event Webhook reference: the documented example body, every event type of one
# message to one address, all stamped in the same second (as SendGrid stamps whole seconds).
_SG = {"email": ADDRESS, "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
       "category": "cat facts", "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
       "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"}
SENDGRID_EXAMPLE = [
    {**_SG, "event": "processed"},
    {**_SG, "event": "deferred", "response": "400 try again later", "attempt": "5"},
    {**_SG, "event": "delivered", "response": "250 OK"},
    {**_SG, "event": "open", "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP)",
     "ip": "255.255.255.255"},
    {**_SG, "event": "click", "useragent": "Mozilla/4.0", "ip": "255.255.255.255",
     "url": "http://www.sendgrid.com/"},
    {**_SG, "event": "bounce", "reason": "500 unknown recipient", "status": "5.0.0",
     "type": "bounce"},
    {**_SG, "event": "dropped", "reason": "Bounced Address", "status": "5.0.0"},
    {**_SG, "event": "spamreport"},
    {**_SG, "event": "unsubscribe"},
    {**_SG, "event": "group_unsubscribe", "useragent": "Mozilla/4.0", "ip": "255.255.255.255",
     "url": "http://www.sendgrid.com/", "asm_group_id": 10},
    {**_SG, "event": "group_resubscribe", "useragent": "Mozilla/4.0", "ip": "255.255.255.255",
     "url": "http://www.sendgrid.com/", "asm_group_id": 10},
]

# Postmark's bounce webhook documentation: the example body (a 19-digit ID, a time with seven
# fractional digits).
POSTMARK_BOUNCE = {
    "RecordType": "Bounce", "MessageStream": "outbound", "ID": 4323372036854775807,
    "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce", "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"}, "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox "
                   "not found).",
    "Details": "Test bounce details", "Email": "john@example.com", "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z", "DumpAvailable": True, "Inactive": True,
    "CanActivate": True, "Subject": "Test subject", "Content": "<Full dump of bounce>"}
POSTMARK_DELIVERY = {
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Recipient": "john@example.com",
    "DeliveredAt": "2019-11-05T16:33:54.9070259Z", "Details": "Test delivery webhook details",
    "Tag": "welcome-email", "ServerID": 23, "Metadata": {"a_key": "a_value"},
    "RecordType": "Delivery", "MessageStream": "outbound"}
POSTMARK_SPAM = {
    "RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42,
    "Type": "SpamComplaint", "TypeCode": 512, "Name": "Spam complaint", "Tag": "Test",
    "MessageID": "00000000-0000-0000-0000-000000000000", "ServerID": 1234, "Description": "",
    "Details": "Test spam complaint details", "Email": "john@example.com",
    "From": "sender@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True, "Inactive": True, "CanActivate": False, "Subject": "Test subject",
    "Content": "<Abuse report dump>"}


def event(email, kind, at="2026-03-01T10:00:00Z"):
    return {"email": email, "type": kind, "occurred_at": at}


def send(api, *events):
    response = api.post("/email-events", json={"events": list(events)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def account(api):
    assert api.put("/accounts/ACCT-1", json={"name": "Acme"}).status_code == 201
    return api


def test_an_address_that_bounced_before_any_record_gives_new_records_its_status(account):
    result = send(account, event("Ann@Customer.example", "bounced"))
    assert result["results"][0]["outcome"] == "unmatched" and result["unmatched"] == 1
    created = account.put("/contacts/C1", json={"account_number": "ACCT-1", "language": "en",
                                                "email": "ann@customer.example"})
    assert created.status_code == 201 and created.get_json()["email_status"] == "bounced"
    rep = account.put("/representatives/R1", json={"name": "Ann", "email": "ANN@customer.example"})
    assert rep.get_json()["email_status"] == "bounced"
    # a batch and a matching upsert take it too
    batch = account.post("/contacts:batch", json={"items": [
        {"reference": "C2", "account_number": "ACCT-1", "language": "en",
         "email": "ann@customer.example"}]}).get_json()
    assert batch["results"][0]["status"] == 201
    assert account.get("/contacts/C2").get_json()["email_status"] == "bounced"
    account.put("/accounts/ACCT-2", json={"name": "Other"})
    matched = account.put("/accounts/ACCT-2/contacts/upsert", json={
        "name": "Someone New", "language": "en", "email": "ann@customer.example"})
    assert matched.status_code == 201 and matched.get_json()["email_status"] == "bounced"


def test_changing_an_email_to_a_known_address_takes_its_status(account):
    send(account, event("gone@customer.example", "bounced"),
         event("angry@customer.example", "complained"))
    account.put("/contacts/C1", json={"account_number": "ACCT-1", "language": "en",
                                      "email": "ann@customer.example"})
    changed = account.patch("/contacts/C1", json={"email": "gone@customer.example"}).get_json()
    assert changed["email_status"] == "bounced"
    changed = account.patch("/contacts/C1", json={"email": "angry@customer.example"}).get_json()
    assert changed["email_status"] == "complained"
    fresh = account.patch("/contacts/C1", json={"email": "brand.new@customer.example"})
    assert fresh.get_json()["email_status"] == "valid"
    cleared = account.patch("/contacts/C1", json={"email": None}).get_json()
    assert cleared["email_status"] is None
    # an address delivered to again is valid for whoever takes it next
    send(account, event("gone@customer.example", "delivered", "2026-03-02T00:00:00Z"))
    again = account.patch("/contacts/C1", json={"email": "gone@customer.example"}).get_json()
    assert again["email_status"] == "valid"


def test_a_later_event_reaches_records_made_after_an_earlier_one(account):
    send(account, event("ann@customer.example", "bounced"))
    account.put("/contacts/C1", json={"account_number": "ACCT-1", "language": "en",
                                      "email": "ann@customer.example"})
    result = send(account, event("ann@customer.example", "delivered", "2026-03-05T00:00:00Z"))
    assert result["results"][0]["outcome"] == "applied"
    assert account.get("/contacts/C1").get_json()["email_status"] == "valid"


def test_dropped_is_bounced_and_deferred_is_ignored(account):
    account.put("/contacts/C1", json={"account_number": "ACCT-1", "language": "en",
                                      "email": "ann@customer.example"})
    result = send(account, event("ann@customer.example", "deferred", "2026-03-02T00:00:00Z"))
    assert result["results"][0] == {"email": "ann@customer.example", "type": "deferred",
                                    "status": 200, "outcome": "ignored", "errors": []}
    assert result["ignored"] == 1 and result["applied"] == 0
    record = account.get("/contacts/C1").get_json()
    assert record["email_status"] == "valid" and record["version"] == 1
    assert EmailStatus.select().count() == 0
    result = send(account, event("ann@customer.example", "dropped", "2026-03-03T00:00:00Z"))
    assert result["results"][0]["outcome"] == "applied"
    assert account.get("/contacts/C1").get_json()["email_status"] == "bounced"


def test_events_at_the_same_time_end_in_the_graver_status_in_any_order(account, other_api):
    at = "2026-03-01T10:00:00Z"
    for api, order in ((account, ("complained", "bounced", "delivered")),
                       (other_api, ("delivered", "bounced", "complained"))):
        for kind in order:  # one request each: arrival order differs per tenant
            send(api, event("ann@customer.example", kind, at))
        api.put("/representatives/R1", json={"name": "Ann", "email": "ann@customer.example"})
        assert api.get("/representatives/R1").get_json()["email_status"] == "complained"
    again = send(account, event("ann@customer.example", "complained", at))  # a re-delivery
    assert again["results"][0]["outcome"] == "stale"


def test_the_sendgrid_documented_example(account):
    account.put("/contacts/C1", json={"account_number": "ACCT-1", "language": "en",
                                      "email": ADDRESS})
    response = account.post("/email-events/sendgrid", json=SENDGRID_EXAMPLE)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert [(r["type"], r["outcome"]) for r in result["results"]] == [
        ("processed", "ignored"), ("deferred", "ignored"), ("delivered", "applied"),
        ("open", "ignored"), ("click", "ignored"), ("bounce", "applied"),
        ("dropped", "stale"),  # the bounce of the same second already said it
        ("spamreport", "applied"), ("unsubscribe", "ignored"),
        ("group_unsubscribe", "ignored"), ("group_resubscribe", "ignored")]
    assert all(r["email"] == ADDRESS and r["status"] == 200 for r in result["results"])
    assert (result["applied"], result["stale"], result["ignored"], result["failed"]) == \
        (3, 1, 7, 0)
    record = account.get("/contacts/C1").get_json()
    assert record["email_status"] == "complained" and record["version"] == 2
    stored = EmailStatus.get()
    assert (stored.email_key, stored.status) == (ADDRESS, "complained")
    assert stored.occurred_at.isoformat() == "2017-12-15T00:59:29"


def test_sendgrid_soft_refusals_and_other_drops_are_ignored(account):
    body = [{**_SG, "event": "bounce", "type": "blocked", "reason": "450 try later"},
            {**_SG, "event": "dropped", "reason": "Unsubscribed Address"},
            {**_SG, "event": "dropped", "reason": "Invalid", "timestamp": 1513299570}]
    result = account.post("/email-events/sendgrid", json=body).get_json()
    assert [r["outcome"] for r in result["results"]] == ["ignored", "ignored", "unmatched"]
    assert EmailStatus.get().status == "bounced"


def test_sendgrid_errors_point_at_sendgrid_fields(account):
    body = copy.deepcopy(SENDGRID_EXAMPLE[5:7])
    body[0]["timestamp"] = "yesterday"
    body[1]["email"] = "not an address"
    body.append("an event")
    result = account.post("/email-events/sendgrid", json=body).get_json()
    assert [r["status"] for r in result["results"]] == [422, 422, 422]
    assert [e["pointer"] for e in result["results"][0]["errors"]] == ["#/0/timestamp"]
    assert [e["pointer"] for e in result["results"][1]["errors"]] == ["#/1/email"]
    assert result["results"][2]["errors"][0]["pointer"] == "#/2"
    assert result["failed"] == 3 and EmailStatus.select().count() == 0
    assert_problem(account.post("/email-events/sendgrid", json=[]), 422, "validation-error",
                   ["#"])
    wrong_shape = account.post("/email-events/sendgrid", json={"event": "bounce"})
    assert_problem(wrong_shape, 400, "malformed-json")
    assert "JSON array" in wrong_shape.get_json()["detail"]


@pytest.mark.parametrize("body, status", [(POSTMARK_BOUNCE, "bounced"),
                                          (POSTMARK_SPAM, "complained"),
                                          (POSTMARK_DELIVERY, "valid")])
def test_the_postmark_documented_examples(account, body, status):
    account.put("/representatives/R1", json={"name": "John", "email": "john@example.com"})
    if status == "valid":  # a delivery only says something after a bounce
        send(account, event("john@example.com", "bounced", "2019-11-05T16:00:00Z"))
    response = account.post("/email-events/postmark", json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["results"] == [{"email": "john@example.com", "type": body["Type"] if
                                  "Type" in body else body["RecordType"], "status": 200,
                                  "outcome": "applied", "errors": []}]
    assert account.get("/representatives/R1").get_json()["email_status"] == status
    assert EmailStatus.get().occurred_at.isoformat() == "2019-11-05T16:33:54.907025"


def test_postmark_soft_bounces_are_ignored_and_errors_point_at_postmark_fields(account):
    soft = {**POSTMARK_BOUNCE, "Type": "SoftBounce", "TypeCode": 4096}
    assert account.post("/email-events/postmark", json=soft).get_json()["results"][0][
        "outcome"] == "ignored"
    broken = {**POSTMARK_BOUNCE, "BouncedAt": "last Tuesday", "Email": 7}
    result = account.post("/email-events/postmark", json=broken).get_json()
    assert sorted(e["pointer"] for e in result["results"][0]["errors"]) == [
        "#/BouncedAt", "#/Email"]
    assert EmailStatus.select().count() == 0
    assert_problem(account.post("/email-events/postmark", json=[POSTMARK_BOUNCE]), 400,
                   "malformed-json")


def test_webhooks_take_the_key_as_basic_auth_password_and_nothing_else_does(account, api_key):
    basic = "Basic " + base64.b64encode(f"hooks:{api_key}".encode()).decode()
    client = account.client  # the bare Flask test client, without the key header
    answer = client.post("/api/v1/ingest/email-events/postmark", json=POSTMARK_BOUNCE,
                         headers={"Authorization": basic})
    assert answer.status_code == 200 and answer.get_json()["results"][0]["outcome"] == \
        "unmatched"
    wrong = "Basic " + base64.b64encode(b"hooks:wrong").decode()
    assert client.post("/api/v1/ingest/email-events/postmark", json=POSTMARK_BOUNCE,
                       headers={"Authorization": wrong}).status_code == 401
    assert client.get("/api/v1/ingest/contacts",
                      headers={"Authorization": basic}).status_code == 401


def test_webhook_fields_of_the_wrong_type_are_answered_never_a_500(account):
    sendgrid = account.post("/email-events/sendgrid", json=[
        {**_SG, "event": "bounce", "reason": {}}, {**_SG, "event": ["dropped"]},
        {**_SG, "event": "dropped", "reason": ["Invalid"]}])
    assert sendgrid.status_code == 200
    assert [r["outcome"] for r in sendgrid.get_json()["results"]] == [
        "unmatched", "ignored", "ignored"]
    postmark = account.post("/email-events/postmark", json={
        **POSTMARK_BOUNCE, "Type": {}, "RecordType": "Bounce"})
    assert postmark.status_code == 200
    assert postmark.get_json()["results"][0]["outcome"] == "ignored"
    odd = account.post("/email-events/postmark", json={**POSTMARK_BOUNCE, "RecordType": 7})
    assert odd.status_code == 200 and odd.get_json()["results"][0]["outcome"] == "ignored"


def test_a_sendgrid_batch_may_hold_more_events_than_a_native_request(account):
    """SendGrid batches by size, not count: 1,500 events in one call are all answered."""
    body = [{**_SG, "email": f"p{n}@customer.example", "event": "bounce"} for n in range(1500)]
    result = account.post("/email-events/sendgrid", json=body).get_json()
    assert len(result["results"]) == 1500 and result["unmatched"] == 1500
    assert EmailStatus.select().count() == 1500
