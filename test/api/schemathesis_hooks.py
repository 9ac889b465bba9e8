"""Schemathesis hooks for test/api/schemathesis.test.ts (loaded through schemathesis.toml).

Two rules of the API tie a query parameter to something OpenAPI cannot express, so a request generated as
"valid" by the document alone is not valid. For valid (positive) queries only, these hooks leave that parameter
out; invalid queries keep it, so its validation is still tested.

- `GET /api/v1/incidents?cursor=`: a cursor is only valid as the `nextCursor` of an earlier page with the same
  filters. Any other value, even well-formed, is rightly a 400.
- `POST /api/v1/alerts?format=`: the named format must be the body's format. The document can say that the body
  is one of four formats, and that `format` is one of four names, but not that the two must agree.
"""

import schemathesis
from schemathesis.core.parameters import ParameterLocation

ISSUED_BY_THE_API = {"listIncidents": "cursor", "ingestAlert": "format"}


@schemathesis.hook
def map_case(context, case):
    name = ISSUED_BY_THE_API.get(getattr(context.operation, "label", None) and context.operation.definition.raw.get("operationId"))
    meta = case.meta
    if name and case.query and name in case.query and not (meta and meta.is_negative_at(ParameterLocation.QUERY)):
        case.query = {k: v for k, v in case.query.items() if k != name}
    return case
