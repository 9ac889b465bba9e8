import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';
import { searchAttributeFlags } from '../../src/contracts';

/**
 * What users of `docker compose up` rely on: the Temporal cluster is set up in the right order, the images
 * are pinned, Quell's two services are built from this repo, and the one-shot setup steps do what they say
 * (checked by running their scripts against stand-ins for the Temporal tools).
 */

const root = path.resolve(__dirname, '..', '..');
const composePath = path.join(root, 'docker-compose.yml');
const dockerfilePath = path.join(root, 'Dockerfile');

type Environment = Record<string, string | number | boolean | null> | string[];
type PortSpec = string | number | { target: number | string; published?: number | string; host_ip?: string };
type VolumeSpec = string | { type?: string; source?: string; target?: string; read_only?: boolean };

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Environment;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: PortSpec[];
  volumes?: VolumeSpec[];
  container_name?: string;
  expose?: string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(composePath, 'utf8'), { merge: true }) as ComposeFile;
const services = compose.services;

const POSTGRES = 'postgresql';
const SCHEMA_SETUP = 'temporal-schema-setup';
const TEMPORAL = 'temporal';
const NAMESPACE_SETUP = 'temporal-namespace-setup';
const UI = 'temporal-ui';
const WORKER = 'quell-worker';
const API = 'quell-api';
const REQUIRED_SERVICES = [POSTGRES, SCHEMA_SETUP, TEMPORAL, NAMESPACE_SETUP, UI, WORKER, API];

function service(name: string): ComposeService {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

function environmentOf(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  const entries: [string, string][] = Array.isArray(env)
    ? env.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(entries);
}

/** depends_on as { service: condition }; the short list form means `service_started`. */
function dependsOn(name: string): Record<string, string> {
  const deps = service(name).depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([d, v]) => [d, v.condition ?? 'service_started']));
}

function publishedPorts(name: string): { hostIp?: string; published: number; target: number }[] {
  return (service(name).ports ?? []).flatMap((p) => {
    if (typeof p === 'object') {
      return p.published === undefined ? [] : [{ published: Number(p.published), target: Number(p.target) }];
    }
    const m = /^(?:(.+):)?(\d+):(\d+)(?:\/\w+)?$/.exec(String(p));
    if (!m) return []; // a bare container port is not published on a fixed host port
    return [{ ...(m[1] ? { hostIp: m[1] } : {}), published: Number(m[2]), target: Number(m[3]) }];
  });
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The image tag, or undefined when the reference has none (`name` or `registry:5000/name`). */
function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const i = lastSegment.indexOf(':');
  return i < 0 ? undefined : lastSegment.slice(i + 1);
}

/**
 * The shell script a one-shot step runs (`entrypoint: [/bin/sh, -c]`, the script as the command), with
 * compose's `$$` escapes turned into the `$` the shell receives.
 */
function setupScript(name: string): string {
  const s = service(name);
  expect(asList(s.entrypoint)).toEqual(['/bin/sh', '-c']);
  const command = asList(s.command);
  expect(command).toHaveLength(1);
  const raw = command[0]!;
  // A lone `$` would be interpolated by compose itself (usually to an empty string), not passed to the shell.
  expect(raw.replace(/\$\$/g, '')).not.toContain('$');
  return raw.replace(/\$\$/g, '$');
}

interface ScriptRun {
  status: number | null;
  output: string;
  calls: string[];
}

/**
 * Runs a setup script with stand-ins for `temporal-sql-tool` and `temporal` first on PATH. Each stand-in
 * records its arguments and fails when they contain a key of `failures` (printing the value), so a test can
 * play "already exists" or a real error.
 */
function runWithStubs(script: string, failures: Record<string, string> = {}): ScriptRun {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-compose-stub-'));
  try {
    const log = path.join(dir, 'calls.log');
    const rules = Object.entries(failures)
      .map(
        ([pattern, message]) =>
          `case "$*" in *${JSON.stringify(pattern)}*) echo ${JSON.stringify(message)} >&2; exit 1;; esac`,
      )
      .join('\n');
    const stub = `#!/bin/sh\necho "$(basename "$0") $*" >> ${JSON.stringify(log)}\n${rules}\nexit 0\n`;
    for (const tool of ['temporal-sql-tool', 'temporal']) {
      writeFileSync(path.join(dir, tool), stub, { mode: 0o755 });
    }
    const result = spawnSync('/bin/sh', ['-c', script], {
      env: { ...process.env, PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const calls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    return { status: result.status, output: `${result.stdout}${result.stderr}`, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('docker-compose.yml: services and images', () => {
  it('defines the Temporal cluster, its setup steps, the UI and both Quell services', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
  });

  it('pins every image to an explicit tag other than latest', () => {
    const unpinned = Object.entries(services)
      .filter(([, s]) => {
        if (!s.image) return s.build === undefined; // only a service built here may go without an image
        const tag = imageTag(s.image);
        return !tag || tag === 'latest';
      })
      .map(([name, s]) => `${name}: ${s.image ?? '(no image, no build)'}`);
    expect(unpinned).toEqual([]);
  });

  it('uses the current split server/admin-tools layout, not the deprecated auto-setup image', () => {
    for (const s of Object.values(services)) {
      expect(s.image ?? '').not.toMatch(/^(docker\.io\/)?temporalio\/auto-setup(:|@|$)/);
    }
    // Which release is test/unit/temporal-version.test.ts's concern.
    expect(service(TEMPORAL).image).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
  });

  it('runs the schema and namespace steps with admin-tools of the same version as the server', () => {
    // The schema shipped in admin-tools must be the one the server expects.
    const serverTag = imageTag(service(TEMPORAL).image!);
    for (const step of [SCHEMA_SETUP, NAMESPACE_SETUP]) {
      // Tags before 1.30 carry the tools' versions too: 1.29.1-tctl-1.18.4-cli-1.5.0.
      expect(service(step).image).toMatch(
        new RegExp(
          `^temporalio/admin-tools:${serverTag!.replace(/\./g, '\\.')}(-tctl-[\\d.]+-cli-[\\d.]+)?$`,
        ),
      );
    }
    expect(service(SCHEMA_SETUP).image).toBe(service(NAMESPACE_SETUP).image);
  });

  it('stores Temporal in PostgreSQL 15 (what test/postgres runs it on), pinned to a release, on a named volume', () => {
    expect(service(POSTGRES).image).toMatch(/^postgres:15\.\d+-bookworm$/);
    const volume = (service(POSTGRES).volumes ?? []).find(
      (v) => (typeof v === 'string' ? v.split(':')[1] : v.target) === '/var/lib/postgresql/data',
    );
    expect(volume).toBeDefined();
    const source = typeof volume === 'string' ? volume.split(':')[0]! : volume!.source!;
    expect(Object.keys(compose.volumes ?? {})).toContain(source);
  });

  it('points the Temporal server at that PostgreSQL with the postgres12 plugin and matching credentials', () => {
    const env = environmentOf(TEMPORAL);
    const pg = environmentOf(POSTGRES);
    expect(env.DB).toBe('postgres12');
    expect(env.DB_PORT).toBe('5432');
    expect(env.POSTGRES_SEEDS).toBe(POSTGRES);
    expect(env.POSTGRES_USER).toBe(pg.POSTGRES_USER);
    expect(env.POSTGRES_PWD).toBe(pg.POSTGRES_PASSWORD);
    // Otherwise the frontend listens on 127.0.0.1 inside its container and nothing else can reach it.
    expect(env.BIND_ON_IP).toBe('0.0.0.0');
  });

  it('mounts the dynamic config file the server is told to read, and that file exists', () => {
    const configPath = environmentOf(TEMPORAL).DYNAMIC_CONFIG_FILE_PATH!;
    expect(configPath).toBeDefined();
    // A relative path is resolved from the server's working directory, /etc/temporal.
    const inContainer = path.posix.resolve('/etc/temporal', configPath);
    const mounts = (service(TEMPORAL).volumes ?? []).map((v) =>
      typeof v === 'string'
        ? { source: v.split(':')[0]!, target: v.split(':')[1]! }
        : { source: v.source!, target: v.target! },
    );
    const mount = mounts.find((m) => inContainer.startsWith(`${m.target}/`));
    expect(mount).toBeDefined();
    expect(mount!.source.startsWith('.')).toBe(true); // a bind mount from the repo
    const onHost = path.join(root, mount!.source, path.posix.relative(mount!.target, inContainer));
    expect(existsSync(onHost)).toBe(true);
    // Every key is a list of { value, constraints } entries, as the server expects.
    const dynamicConfig = parse(readFileSync(onHost, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(dynamicConfig).length).toBeGreaterThan(0);
    const malformed = Object.entries(dynamicConfig)
      .filter(
        ([, entries]) =>
          !Array.isArray(entries) ||
          entries.some(
            (e) =>
              typeof e !== 'object' || e === null || Object.keys(e).sort().join() !== 'constraints,value',
          ),
      )
      .map(([key]) => key);
    expect(malformed).toEqual([]);
    expect(dynamicConfig['system.forceSearchAttributesCacheRefreshOnRead']).toEqual([
      { value: true, constraints: {} },
    ]);
  });
});

describe('docker-compose.yml: startup order', () => {
  const edges: [string, string, string][] = [
    [SCHEMA_SETUP, POSTGRES, 'service_healthy'],
    [TEMPORAL, SCHEMA_SETUP, 'service_completed_successfully'],
    [NAMESPACE_SETUP, TEMPORAL, 'service_healthy'],
    [UI, TEMPORAL, 'service_healthy'],
    [WORKER, NAMESPACE_SETUP, 'service_completed_successfully'],
    [API, NAMESPACE_SETUP, 'service_completed_successfully'],
  ];

  it.each(edges)('%s waits for %s (%s)', (dependent, dependency, condition) => {
    expect(dependsOn(dependent)[dependency]).toBe(condition);
  });

  it('depends only on services that exist', () => {
    const dangling = Object.keys(services).flatMap((name) =>
      Object.keys(dependsOn(name))
        .filter((dependency) => !(dependency in services))
        .map((dependency) => `${name} -> ${dependency}`),
    );
    expect(dangling).toEqual([]);
  });
});

describe('docker-compose.yml: health checks and ports', () => {
  it('checks postgres with pg_isready', () => {
    expect(asList(service(POSTGRES).healthcheck?.test).join(' ')).toContain('pg_isready');
  });

  it('checks the Temporal frontend port', () => {
    const hc = service(TEMPORAL).healthcheck;
    expect(hc?.disable).not.toBe(true);
    expect(asList(hc?.test).join(' ')).toMatch(/7233/);
  });

  it('checks quell-api readiness on /readyz, and not the worker (it serves no HTTP)', () => {
    const test = asList(service(API).healthcheck?.test);
    expect(test[0]).toBe('CMD');
    expect(test.join(' ')).toContain('http://127.0.0.1:8080/readyz');
    // The image's /healthz check would mark every worker unhealthy.
    expect(service(WORKER).healthcheck?.disable).toBe(true);
  });

  it('publishes the API on 8080, the UI on 8233 and Temporal gRPC on 7233', () => {
    expect(publishedPorts(API)).toEqual(
      expect.arrayContaining([expect.objectContaining({ published: 8080, target: 8080 })]),
    );
    expect(publishedPorts(UI)).toEqual(
      expect.arrayContaining([expect.objectContaining({ published: 8233, target: 8080 })]),
    );
    expect(publishedPorts(TEMPORAL)).toEqual(
      expect.arrayContaining([expect.objectContaining({ published: 7233, target: 7233 })]),
    );
  });

  it('leaves quell-worker without fixed ports or container name, so --scale quell-worker=N works', () => {
    expect(publishedPorts(WORKER)).toEqual([]);
    expect(service(WORKER).container_name).toBeUndefined();
  });
});

describe('docker-compose.yml: Quell services', () => {
  it.each([
    [WORKER, 'worker'],
    [API, 'api'],
  ])('builds %s from the repo Dockerfile and runs `quell %s`', (name, command) => {
    const build = service(name).build;
    const context = typeof build === 'string' ? build : build?.context;
    const dockerfile = (typeof build === 'object' && build.dockerfile) || 'Dockerfile';
    expect(context).toBeDefined();
    expect(path.resolve(root, context!)).toBe(root);
    expect(path.resolve(root, context!, dockerfile)).toBe(dockerfilePath);
    expect(asList(service(name).command)).toEqual([command]);
  });

  it.each([WORKER, API])(
    'connects %s to the compose Temporal and the namespace the setup step creates',
    (name) => {
      const env = environmentOf(name);
      expect(env.TEMPORAL_ADDRESS).toBe(`${TEMPORAL}:7233`);
      expect(env.TEMPORAL_NAMESPACE).toBe('default');
    },
  );

  it.each([WORKER, API])('requires QUELL_API_TOKENS from the host environment for %s', (name) => {
    // `${VAR:?message}`: compose refuses to start instead of running the API without tokens.
    expect(environmentOf(name).QUELL_API_TOKENS).toMatch(/^\$\{QUELL_API_TOKENS:\?.+\}$/);
  });

  it("serves each worker replica's SDK metrics on the compose network (not published on the host)", () => {
    const address = environmentOf(WORKER).QUELL_SDK_METRICS_ADDRESS;
    expect(address).toBe('0.0.0.0:9464');
    const config = loadConfig({ ...process.env, QUELL_SDK_METRICS_ADDRESS: String(address) });
    expect(config.sdkMetrics).toMatchObject({ host: '0.0.0.0', port: 9464 });
    expect(asList(service(WORKER).expose)).toContain('9464');
    expect(publishedPorts(WORKER)).toEqual([]);
  });

  it.each([WORKER, API])(
    'leaves tracing off for %s unless the host sets OTEL_EXPORTER_OTLP_ENDPOINT',
    (name) => {
      // `${VAR:-}`: empty when unset, which Quell reads as no endpoint (tracing off).
      expect(environmentOf(name).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('${OTEL_EXPORTER_OTLP_ENDPOINT:-}');
    },
  );

  it('keeps Quell data on a named volume at QUELL_DATA_DIR', () => {
    for (const name of [WORKER, API]) {
      const volume = (service(name).volumes ?? []).find(
        (v) => (typeof v === 'string' ? v.split(':')[1] : v.target) === '/var/lib/quell',
      );
      expect(volume).toBeDefined();
      const source = typeof volume === 'string' ? volume.split(':')[0]! : volume!.source!;
      expect(Object.keys(compose.volumes ?? {})).toContain(source);
    }
  });
});

describe('docker-compose.yml: the schema setup step', () => {
  const script = () => setupScript(SCHEMA_SETUP);
  const connection = '--plugin postgres12 --ep postgresql -p 5432 -u temporal --pw temporal';
  const schemaDirs: Record<string, string> = {
    temporal: '/etc/temporal/schema/postgresql/v12/temporal/versioned',
    temporal_visibility: '/etc/temporal/schema/postgresql/v12/visibility/versioned',
  };

  it('creates and migrates both the temporal and temporal_visibility databases', () => {
    const run = runWithStubs(script());
    expect(run.status).toBe(0);
    const sql = run.calls.filter((c) => c.startsWith('temporal-sql-tool '));
    for (const [db, dir] of Object.entries(schemaDirs)) {
      const prefix = `temporal-sql-tool ${connection} --db ${db} `;
      expect(sql).toEqual(
        expect.arrayContaining([
          `${prefix}create-database`,
          `${prefix}setup-schema -v 0.0`,
          `${prefix}update-schema -d ${dir}`,
        ]),
      );
    }
    // The credentials are the ones postgres is started with.
    const pg = environmentOf(POSTGRES);
    expect(connection).toContain(`-u ${pg.POSTGRES_USER} --pw ${pg.POSTGRES_PASSWORD}`);
  });

  it('succeeds again on the next `up`, when the databases already exist', () => {
    const run = runWithStubs(script(), { 'create-database': 'pq: database "temporal" already exists' });
    expect(run.status).toBe(0);
    expect(run.calls.filter((c) => c.includes('update-schema'))).toHaveLength(2);
  });

  it('fails on any other database error instead of starting Temporal on a broken schema', () => {
    const run = runWithStubs(script(), {
      'create-database': 'dial tcp 172.18.0.2:5432: connect: connection refused',
    });
    expect(run.status).not.toBe(0);
    expect(run.calls.some((c) => c.includes('setup-schema'))).toBe(false);
  });
});

describe('docker-compose.yml: the namespace setup step', () => {
  const script = () => setupScript(NAMESPACE_SETUP);
  const target = '--namespace default --address temporal:7233';

  it('waits for cluster health, then creates the default namespace and every Quell search attribute', () => {
    const run = runWithStubs(script());
    expect(run.status).toBe(0);
    const health = run.calls.findIndex((c) => c.startsWith('temporal operator cluster health'));
    const namespace = run.calls.findIndex((c) => c.startsWith('temporal operator namespace create'));
    expect(health).toBeGreaterThanOrEqual(0);
    expect(namespace).toBeGreaterThan(health);
    expect(run.calls[namespace]).toContain(target);
    const created = run.calls.filter((c) => c.startsWith('temporal operator search-attribute create'));
    const flags = searchAttributeFlags();
    expect(flags).toEqual(
      expect.arrayContaining([
        'QuellIncidentId=Keyword',
        'QuellSeverity=Keyword',
        'QuellPhase=Keyword',
        'QuellStatus=Keyword',
        'QuellPlaybook=Keyword',
        'QuellCorrelationKey=Keyword',
        'QuellHosts=KeywordList',
        'QuellAccounts=KeywordList',
      ]),
    );
    // Exactly Quell's attributes (QUELL_SEARCH_ATTRIBUTES, names and types), none missing and none extra.
    expect([...created].sort()).toEqual(
      flags
        .map((flag) => {
          const [name, type] = flag.split('=');
          return `temporal operator search-attribute create ${target} --name ${name} --type ${type}`;
        })
        .sort(),
    );
  });

  it('succeeds again on the next `up`, when the namespace and attributes already exist', () => {
    const run = runWithStubs(script(), {
      'namespace create': 'Error: unable to create namespace: Namespace already exists.',
      'search-attribute create': 'Error: unable to add search attributes: already exists',
    });
    expect(run.status).toBe(0);
    expect(run.calls.filter((c) => c.includes('search-attribute create'))).toHaveLength(
      searchAttributeFlags().length,
    );
  });

  it('fails when a search attribute exists with another type', () => {
    const run = runWithStubs(script(), {
      '--name QuellHosts': 'Error: search attribute QuellHosts already exists and has different type Keyword',
    });
    expect(run.status).not.toBe(0);
  });
});

/**
 * Runs a health check command against a local HTTP server that answers `status` on every path; `command`
 * gets the server's port and returns the argv (and environment) to run.
 */
async function probe(
  status: number,
  command: (port: number) => { argv: string[]; env?: NodeJS.ProcessEnv },
): Promise<{ exitCode: number; paths: string[] }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { argv, env } = command((server.address() as AddressInfo).port);
    const [file, ...args] = argv;
    // Asynchronous on purpose: a synchronous child would block this process's server from answering.
    const exitCode = await new Promise<number>((resolve) => {
      execFile(file!, args, { env: env ?? process.env, timeout: 15_000 }, (err) =>
        resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
      );
    });
    return { exitCode, paths };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('health check commands', () => {
  it("quell-api's check passes on a ready API and fails on a 503", async () => {
    const test = asList(service(API).healthcheck?.test);
    expect(test.slice(0, 2)).toEqual(['CMD', 'node']);
    // Same command, pointed at the test server instead of the container's port 8080.
    const command = (port: number) => ({
      argv: [process.execPath, ...test.slice(2).map((a) => a.replace('127.0.0.1:8080', `127.0.0.1:${port}`))],
    });
    expect(await probe(200, command)).toEqual({ exitCode: 0, paths: ['/readyz'] });
    expect((await probe(503, command)).exitCode).not.toBe(0);
  });

  it("the image's HEALTHCHECK probes /healthz on QUELL_API_PORT", async () => {
    const instruction = dockerfileInstructions(readFileSync(dockerfilePath, 'utf8')).find(
      (i) => i.op === 'HEALTHCHECK',
    );
    const json = /\bCMD\s+(\[.*\])\s*$/.exec(instruction?.args ?? '');
    expect(json).not.toBeNull();
    const argv = JSON.parse(json![1]!) as string[];
    expect(argv[0]).toBe('node');
    const command = (port: number) => ({
      argv: [process.execPath, ...argv.slice(1)],
      env: { ...process.env, QUELL_API_PORT: String(port) },
    });
    expect(await probe(200, command)).toEqual({ exitCode: 0, paths: ['/healthz'] });
    expect((await probe(500, command)).exitCode).not.toBe(0);
  });
});

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function dockerfileInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

/** COPY/ADD sources (flags removed, destination dropped). */
function copySources(args: string): { from?: string; sources: string[] } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1) };
}

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions(readFileSync(dockerfilePath, 'utf8'));
  const firstFrom = instructions.findIndex((i) => i.op === 'FROM');
  const globalArgs = Object.fromEntries(
    instructions
      .slice(0, firstFrom)
      .filter((i) => i.op === 'ARG' && i.args.includes('='))
      .map((i) => [i.args.slice(0, i.args.indexOf('=')), i.args.slice(i.args.indexOf('=') + 1)]),
  );
  const expand = (s: string) =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => globalArgs[a ?? b!] ?? '');
  const stages: Instruction[][] = [];
  for (const instruction of instructions.slice(firstFrom)) {
    if (instruction.op === 'FROM') stages.push([]);
    stages[stages.length - 1]!.push(instruction);
  }
  const finalStage = stages[stages.length - 1]!;

  it('is multi-stage on one pinned Node LTS release (not Node 20, which is past end of life)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const images = new Set(stages.map((stage) => expand(stage[0]!.args).split(/\s+/)[0]));
    expect(images.size).toBe(1);
    const [image] = [...images];
    // A full version (major.minor.patch), an even (LTS) major of 24 or later.
    const m = /^node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/.exec(image!);
    expect(m).not.toBeNull();
    expect(Number(m![1]) % 2).toBe(0);
    expect(Number(m![1])).toBeGreaterThanOrEqual(24);
  });

  it('needs no development dependency at run time: every package src/, workflows/ and activities/ import statically is a production dependency', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const dev of ['tsx', 'esbuild', 'pino-pretty', '@temporalio/testing']) {
      expect({ dev, inDependencies: dev in pkg.dependencies }).toEqual({ dev, inDependencies: false });
    }
    const files = ['src', 'workflows', 'activities'].flatMap((dir) =>
      readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.includes(`${path.sep}web${path.sep}`))
        .map((f) => path.join(root, dir, f)),
    );
    const missing: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // Static imports and requires; `import type` is erased, and `await import(...)` is loaded only where needed.
      for (const m of text.matchAll(
        /^\s*(?:import(?!\s+type\b)[^'"]*from\s+|export[^'"]*from\s+|import\s+)['"]([^'".][^'"]*)['"]/gm,
      )) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!(name in pkg.dependencies)) missing.push(`${path.relative(root, file)}: ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('builds with npm ci and npm run build, and installs only production dependencies in the image', () => {
    const runs = (stage: Instruction[]) =>
      stage
        .filter((i) => i.op === 'RUN')
        .map((i) => i.args)
        .join('\n');
    expect(stages.slice(0, -1).map(runs).join('\n')).toMatch(/npm ci\b/);
    expect(stages.slice(0, -1).map(runs).join('\n')).toMatch(/npm run build\b/);
    expect(runs(finalStage)).toMatch(/npm ci\b[^\n]*--omit=dev/);
  });

  it('does not copy src/ into the image, so bin/quell.js runs the compiled dist/', () => {
    // bin/quell.js runs src/cli/main.ts through tsx whenever that file exists.
    expect(readFileSync(path.join(root, 'bin', 'quell.js'), 'utf8')).toContain("'src', 'cli', 'main.ts'");
    // `COPY . .` or `COPY src ...` (from the context or from the build stage's /app) would bring src/ along.
    const copiesSrc = finalStage
      .filter((i) => i.op === 'COPY' || i.op === 'ADD')
      .filter((i) =>
        copySources(i.args).sources.some((source) => {
          const normalized = path.posix.normalize(source.replace(/^\/app\/?/, '') || '.').replace(/\/$/, '');
          return normalized === '.' || /^src(\/|$)/.test(normalized);
        }),
      )
      .map((i) => i.args);
    expect(copiesSrc).toEqual([]);
    const copied = finalStage
      .filter((i) => i.op === 'COPY')
      .map((i) => copySources(i.args).sources.join(' '));
    expect(copied.join('\n')).toMatch(/\bdist\b/);
    expect(copied.join('\n')).toMatch(/\bbin\b/);
  });

  it('ships the dev-server guardian next to the compiled dev-server module', () => {
    const text = instructions.map((i) => i.args).join('\n');
    expect(text).toMatch(/dev-server-guardian\.cjs\s+\S*dist\/src\/temporal\/?/);
  });

  it('runs as a non-root user', () => {
    const users = finalStage.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', 'root:root', '0:0']).not.toContain(users[users.length - 1]);
  });

  it('starts the quell CLI, in production mode, with the data dir compose mounts', () => {
    const entrypoint = finalStage.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint!.args)).toEqual(['node', 'bin/quell.js']);
    const env = finalStage
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    expect(env).toMatch(/\bQUELL_DATA_DIR=\/var\/lib\/quell\b/);
    expect(env).toMatch(/\bQUELL_API_HOST=0\.0\.0\.0\b/);
  });

  it('keeps node_modules and benchmark results out of the build context', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/^\/|\/$/g, ''));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'bench/results']));
  });
});

/** `docker compose config` validates the file against compose's own schema; it needs no Docker engine. */
const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
const composeAvailable = composeCli.status === 0;
if (!composeAvailable) {
  console.warn(
    'docker-compose.test.ts: SKIPPING `docker compose config` validation: the Docker Compose CLI plugin is ' +
      'not installed here (`docker compose version` failed). The structural checks above still ran.',
  );
}

describe('docker compose config', () => {
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync('docker', ['compose', '-f', composePath, 'config', '-q'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });

  (composeAvailable ? it : it.skip)('accepts the file when QUELL_API_TOKENS is set', () => {
    const result = run({ ...process.env, QUELL_API_TOKENS: 'test-token' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  (composeAvailable ? it : it.skip)('refuses to run without QUELL_API_TOKENS', () => {
    const { QUELL_API_TOKENS: _unset, ...env } = process.env;
    const result = run(env);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('QUELL_API_TOKENS');
  });
});
