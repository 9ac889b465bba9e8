import type { Request } from 'express';
import { ApiProblem } from './problem';

/** Like type-is: a request has a body when it declares a length or a transfer encoding. */
export function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

export const JSON_TYPES = ['application/json', 'application/*+json'];

/** 415 problem unless the body is declared as JSON (any `+json` type counts) in UTF-8. */
export function requireJsonContentType(req: Request): void {
  if (!req.is(JSON_TYPES)) {
    throw new ApiProblem(
      415,
      'unsupported-media-type',
      'Unsupported media type',
      `Send the body as application/json (got ${describeContentType(req.headers['content-type'])}).`,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new ApiProblem(
      415,
      'unsupported-encoding',
      'Unsupported encoding',
      `Send JSON in UTF-8 (got charset ${describeContentType(charset)}).`,
    );
  }
}

function describeContentType(value: string | undefined): string {
  if (!value) return 'no content type';
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/** Deepest nesting accepted in a raw JSON body (real alerts nest well under 20). */
export const MAX_JSON_DEPTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function badJson(detail: string): ApiProblem {
  return new ApiProblem(400, 'malformed-json', 'Malformed JSON', detail);
}

/**
 * Parses a raw body as JSON, refusing invalid UTF-8, nesting deeper than {@link MAX_JSON_DEPTH} and `__proto__`
 * keys (JSON.parse makes them plain properties, but code that copies objects key by key would set a prototype).
 * Thrown: a 400 problem.
 */
export function parseJsonBody(raw: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw badJson('The request body is not valid UTF-8.');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw badJson('The request body is empty; send a JSON document.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badJson('The request body is not valid JSON.');
  }
  // Iterative walk: no recursion, so depth cannot overflow the stack. Paths are built only on error (building
  // them for every node would copy long keys once per descendant).
  interface Node {
    v: unknown;
    depth: number;
    parent?: Node;
    key?: string;
  }
  const pathOf = (n: Node): string => {
    const parts: string[] = [];
    for (let c: Node | undefined = n; c?.key !== undefined; c = c.parent) parts.push(c.key);
    const path = parts.reverse().join('.');
    return path.length > 300 ? `${path.slice(0, 300)}…` : path;
  };
  const stack: Node[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const { v, depth } = node;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) throw badJson(`The JSON body nests deeper than ${MAX_JSON_DEPTH} levels.`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        stack.push({ v: v[i] as unknown, depth: depth + 1, parent: node, key: String(i) });
      }
      continue;
    }
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      const childNode: Node = { v: child, depth: depth + 1, parent: node, key: k };
      if (k === '__proto__') {
        throw new ApiProblem(
          400,
          'forbidden-key',
          'Forbidden key',
          'The JSON body contains a "__proto__" key.',
          {
            errors: [{ path: pathOf(childNode), message: 'key not allowed' }],
          },
        );
      }
      stack.push(childNode);
    }
  }
  return value;
}
