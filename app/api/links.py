"""Paginated lists and representative links, written once for every pair of resources."""
from flask import g

from app.errors import with_article
from app.api import plural, singular
from app.api.collections import bulk_post
from app.api.parsing import read_optional_body
from app.services import batch as batch_service
from app.services import links as link_service
from schemas.common import NO_BODY
from schemas.links import (AccountLinkSchema, DocumentLinkSchema, LinkBatchResultSchema,
                           LinkBatchSchema, LinkSchema)
from schemas.pages import KeyPageSchema, PageArgsSchema, record_page_schema


PAGE_ARGS = PageArgsSchema()
_LINK_SCHEMAS = {"accounts": AccountLinkSchema(), "documents": DocumentLinkSchema()}


def register_page_route(blp, path, endpoint, operation_id, page_schema, load_page, summary):
    """GET `path?page&limit&include_archived`: a page from
    `load_page(tenant_id, page, limit, include_archived, **path_args)`."""

    @blp.route(path, endpoint=endpoint, methods=["GET"])
    @blp.doc(summary=summary, operationId=operation_id)
    @blp.query(PAGE_ARGS)
    @blp.response(200, page_schema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def list_page(page, limit, include_archived, **path_args):
        return load_page(g.tenant_id, page, limit, include_archived, **path_args)

    return list_page


def register_child_list(blp, parent, child, field):
    """GET /{parent}/{key}/{child}: the child records that name the parent, in key order."""
    def load(tenant_id, page, limit, include_archived, **path_args):
        return link_service.child_records(tenant_id, parent, path_args[parent.key_field],
                                          child, field, page, limit, include_archived)

    register_page_route(blp, f"/{parent.name}/<{parent.key_field}>/{child.name}",
                        f"{parent.label}_{child.name}", f"list{singular(parent)}{plural(child)}",
                        record_page_schema(child.schema_class),
                        load, f"The {child.name} of {with_article(parent.label)}")


def register_linked_representatives(blp, kind, representative_schema_class):
    """GET /{target}/{key}/representatives: who looks after this record."""
    target = kind.target

    def load(tenant_id, page, limit, include_archived, **path_args):
        return link_service.linked_representatives(tenant_id, kind, path_args[target.key_field],
                                                   page, limit, include_archived)

    register_page_route(blp, f"/{target.name}/<{target.key_field}>/representatives",
                        f"{target.label}_representatives",
                        f"list{singular(target)}Representatives",
                        record_page_schema(representative_schema_class), load,
                        f"The representatives linked to {with_article(target.label)} (without their "
                        "link summaries)")


def register_link_routes(blp, kind):
    """PUT / DELETE /representatives/{reference}/{kind}/{key}, and the page of linked keys."""
    target_field = kind.target_field
    link_schema = _LINK_SCHEMAS[kind.name]

    @blp.route(f"/representatives/<reference>/{kind.name}/<{target_field}>",
               endpoint=f"link_{kind.name}", methods=["PUT"])
    @blp.doc(summary=f"Link a representative to {with_article(kind.target.label)} (idempotent)",
             operationId=f"linkRepresentative{singular(kind.target)}")
    @blp.response(200, link_schema)
    @blp.alt_response(404, response="NOT_FOUND")
    def put_link(reference, **path_args):
        read_optional_body(NO_BODY)  # no body, or an empty object: anything else is 422
        return link_service.link(g.tenant_id, kind, reference, path_args[target_field])[0]

    @blp.route(f"/representatives/<reference>/{kind.name}/<{target_field}>",
               endpoint=f"unlink_{kind.name}", methods=["DELETE"])
    @blp.doc(summary=f"Unlink a representative from {with_article(kind.target.label)}",
             operationId=f"unlinkRepresentative{singular(kind.target)}")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete_link(reference, **path_args):
        read_optional_body(NO_BODY)
        link_service.unlink(g.tenant_id, kind, reference, path_args[target_field])

    def load(tenant_id, page, limit, include_archived, reference):
        return link_service.linked_keys(tenant_id, kind, reference, page, limit,
                                        include_archived)

    register_page_route(blp, f"/representatives/<reference>/{kind.name}",
                        f"linked_{kind.name}", f"listRepresentative{plural(kind.target)}",
                        KeyPageSchema(), load,
                        f"The {kind.name} a representative is linked to, in key order")


def register_link_batch_routes(blp):
    """POST /representatives:link and :unlink, up to 1,000 pairs each."""
    for remove, action in ((False, "link"), (True, "unlink")):
        register_link_batch_route(blp, action, remove)


def register_link_batch_route(blp, action, remove):
    @bulk_post(blp, f"/representatives:{action}", f"batch_{action}",
               f"batch{action.title()}Representatives",
               f"{action.title()} up to 1,000 representative/record pairs", LinkBatchSchema,
               LinkSchema, LinkBatchResultSchema(), envelope_name="LinkBatch",
               metric=f"representatives:{action}", description=(
                   "Each pair names a representative and one account or document; a pair "
                   "with a missing side fails alone (404)."))
    def batch_links(links):
        return batch_service.batch_links(g.tenant_id, links, remove=remove)
