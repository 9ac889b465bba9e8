/**
 * Writes the console's bundle and style sheet for an image without sources (the Dockerfile runs it):
 *
 *   npx tsx scripts/build-console.ts dist/src/console/web
 *
 * A checkout needs no build step: the API bundles the console in memory when it starts.
 */
import { writeConsoleAssets } from '../src/console';

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('usage: npx tsx scripts/build-console.ts <output folder>\n');
  process.exit(2);
}
writeConsoleAssets(outDir).catch((err: unknown) => {
  process.stderr.write(`build-console: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
