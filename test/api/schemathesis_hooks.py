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
    operation_id = context.operation.definition.raw.get("operationId") if context.operation else None
    name = ISSUED_BY_THE_API.get(operation_id)
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if name and case.query and name in case.query and not negative:
        case.query = {k: v for k, v in case.query.items() if k != name}
    return case
