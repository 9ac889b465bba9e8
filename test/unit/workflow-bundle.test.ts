import { readFileSync } from 'node:fs';
import { requireEnv, TEST_ENV } from '../support/env';

/**
 * The workflow bundle (built once by the test setup from workflows/index.ts) holds workflow-safe code only:
 * workflows/, src/domain/, the contracts, the playbook policy, and the Temporal SDK's own workflow packages. zod once entered it
 * through a domain module and ran again for every new incident (the bundle grew from 1.9 to 2.6 MB); the lint
 * rules for those folders keep imports out, and this test fails if anything slips through anyway.
 */
describe('the workflow bundle', () => {
  const code = readFileSync(requireEnv(TEST_ENV.bundle), 'utf8');
  // Webpack names each module by its path in the bundle it builds: quoted as a module ID, or in a `;// ./path`
  // line where it hoisted an ES module into the scope of another (leanWorkflowBundle in src/worker).
  const modules = [
    ...new Set([...code.matchAll(/(?:"|^;\/\/ )(\.\/[^"\s]+\.(?:ts|js|cjs|mjs))"?$/gm)].map((m) => m[1]!)),
  ];
  const own = modules.filter((m) => !m.startsWith('./node_modules/'));
  const packages = [
    ...new Set(
      modules
        .filter((m) => m.startsWith('./node_modules/'))
        .map((m) => {
          const parts = m.slice('./node_modules/'.length).split('/');
          return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
        }),
    ),
  ].sort();

  it('holds only workflow-safe project modules', () => {
    expect(own.length).toBeGreaterThan(10);
    const unsafe = own.filter(
      (m) => !/^\.\/(workflows\/|src\/domain\/|src\/contracts\.ts$|src\/playbooks\/policy\.ts$)/.test(m),
    );
    expect(unsafe).toEqual([]);
  });

  it('holds no zod and no package beyond the SDK workflow runtime', () => {
    expect(packages.filter((p) => p === 'zod')).toEqual([]);
    expect(packages).toEqual(['@temporalio/common', '@temporalio/workflow', 'long', 'ms', 'nexus-rpc']);
    // For the record (a figure, not a target): the bundle's size.
    process.stdout.write(
      `[workflow bundle] ${(code.length / 1024 / 1024).toFixed(2)} MB, ${own.length} project modules\n`,
    );
  });
});
