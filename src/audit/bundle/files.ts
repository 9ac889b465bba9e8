/** Bundle files: `<incidentId>.audit-bundle.json`, written into a directory, read from a file or a directory. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AuditBundle } from './types';

export function bundleFileName(incidentId: string): string {
  return `${incidentId}.audit-bundle.json`;
}

/** Writes the bundle into `dir` (created if needed); returns the file path. */
export async function writeBundle(bundle: AuditBundle, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, bundleFileName(bundle.incidentId));
  await fs.writeFile(file, JSON.stringify(bundle, null, 2) + '\n');
  return file;
}

/** Reads a bundle file, or the one bundle in a directory. */
export async function readBundle(p: string): Promise<{ file: string; doc: unknown }> {
  let file = p;
  if ((await fs.stat(p)).isDirectory()) {
    const found = (await fs.readdir(p)).filter((n) => n.endsWith('.audit-bundle.json'));
    if (found.length !== 1) {
      throw new Error(`${p} holds ${found.length} audit bundles (*.audit-bundle.json); name the file`);
    }
    file = path.join(p, found[0]!);
  }
  return { file, doc: JSON.parse(await fs.readFile(file, 'utf8')) as unknown };
}
