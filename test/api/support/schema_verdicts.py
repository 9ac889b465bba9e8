"""For test/api/schemathesis.test.ts: which JSON bodies (stdin, a JSON array) a schema of the OpenAPI document
(argv[1], a file) accepts. The schema is named by a JSON pointer into the document (argv[2]), so its references
resolve against the whole document. Validated with jsonschema_rs (draft 2020-12, formats checked), which
schemathesis ships: a validator independent of zod. Prints a JSON array of booleans."""
import json
import sys

import jsonschema_rs

with open(sys.argv[1], encoding="utf-8") as f:
    document = json.load(f)
validator = jsonschema_rs.Draft202012Validator({**document, "$ref": sys.argv[2]}, validate_formats=True)
print(json.dumps([validator.is_valid(body) for body in json.load(sys.stdin)]))
