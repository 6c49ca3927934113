import { FieldData, type FieldSchema } from '../../../plugin/sdk/fields';
import { expandPattern } from '../../../plugin/sdk/openapi';
import type { Path, RoutedOperation } from '../../../plugin/sdk/path';
import { makeRequest } from '../sdk-helpers';
import { EngineHarness } from './engine-harness';

/**
 * Every field name each engine handler reads is one its path declares. The compiler already
 * refuses an undeclared name inside `definePath`; this walk is the run-time proof, for reads the
 * compiler cannot see (a cast, a helper typed too widely). It calls each handler of each path
 * directly, with a FieldData that notes every name asked for before the real one answers, once
 * per way the path can be written (with and without an optional capture) and per body: the
 * required fields, with each other field alone, with all of them. Handlers may fail on those
 * bodies; only what they read counts, and the walk must reach every declared field, or it proves
 * little.
 */
describe.each([1, 2] as const)('fields the engine reads, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  async function freshHarness(): Promise<EngineHarness> {
    const started = await EngineHarness.start({ generation });
    await started.configure();
    await started.request('create', 'roles/ci', { subject: 'robot:ci' });
    return started;
  }

  it('reads only declared fields, on every path and operation, and reaches every declared field', async () => {
    harness = await freshHarness();
    const paths = harness.backend.definition.paths;
    const undeclared = new Set<string>();
    const reached = new Set<string>();
    for (const [index, path] of paths.entries()) {
      const declared = path.fields ?? {};
      for (const label of handlersOf(path).map((handler) => handler.label)) {
        for (const template of expandPattern(path.pattern) ?? []) {
          for (const bodyIndex of bodiesFor(declared, harness).keys()) {
            // Each run on a mount of its own (a handler may delete the config or rotate the admin
            // token), with that mount's own handlers, which hold its engine, and its stand-in.
            await harness.stop();
            harness = await freshHarness();
            const body = bodiesFor(declared, harness)[bodyIndex]!;
            const handler = handlersOf(harness.backend.definition.paths[index]!).find((h) => h.label === label)!;
            const read = new Set<string>();
            const captures = capturesOf(template, declared, harness);
            const request = makeRequest(handler.operation, fill(template, captures), {
              storage: harness.storage,
              data: body,
            });
            const fields = new FieldData(declared, handler.existenceCheck ? captures : { ...body, ...captures });
            await handler.run(request, recording(fields, read)).catch(() => undefined);
            for (const name of read) {
              if (Object.hasOwn(declared, name)) reached.add(`${path.pattern} ${name}`);
              else undeclared.add(`${path.pattern} ${label} reads "${name}"`);
            }
          }
        }
      }
    }
    expect([...undeclared]).toEqual([]);
    const everyDeclared = paths.flatMap((path) =>
      Object.keys(path.fields ?? {}).map((name) => `${path.pattern} ${name}`),
    );
    expect(everyDeclared.filter((field) => !reached.has(field))).toEqual([]);
  });
});

interface Handler {
  label: string;
  operation: RoutedOperation;
  existenceCheck: boolean;
  run: (request: ReturnType<typeof makeRequest>, fields: FieldData) => Promise<unknown>;
}

function handlersOf(path: Path): Handler[] {
  const handlers: Handler[] = Object.entries(path.operations).flatMap(([operation, declared]) => {
    if (declared === undefined) return [];
    const handler = typeof declared === 'function' ? declared : declared.handler;
    return [{ label: operation, operation: operation as RoutedOperation, existenceCheck: false, run: handler }];
  });
  const check = path.existenceCheck;
  if (check !== undefined) {
    handlers.push({ label: 'existence check', operation: 'create', existenceCheck: true, run: check });
  }
  return handlers;
}

/** A FieldData that notes the name every method is asked about, declared or not, then answers. */
function recording(fields: FieldData, read: Set<string>): FieldData {
  return new Proxy(fields, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string') read.add(args[0]);
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Values the engine accepts, so that handlers get past their first checks to later reads. */
function sample(name: string, schema: FieldSchema, harness: EngineHarness): unknown {
  const byName: Record<string, unknown> = {
    name: 'ci',
    subject: 'robot:ci',
    username: 'robot:ci',
    subject_template: 'user:{{identity.entity.name}}',
    pachd_address: harness.pachd.pachdAddress,
    admin_token: harness.pachd.rootToken,
    user_token: 'f'.repeat(32),
  };
  if (Object.hasOwn(byName, name)) return byName[name];
  if (schema.allowedValues !== undefined) return schema.allowedValues[0];
  switch (schema.type) {
    case 'string':
      return 'x';
    case 'int':
      return 1;
    case 'bool':
      return true;
    case 'duration':
      return '30s';
    case 'comma-string-list':
      return ['x'];
    case 'kv-pairs':
      return {};
  }
}

/** The bodies each handler is run with: the required fields, with each other field alone, with all. */
function bodiesFor(declared: Readonly<Record<string, FieldSchema>>, harness: EngineHarness) {
  const bodyFields = Object.entries(declared).filter(([, schema]) => schema.in !== 'path');
  const value = ([name, schema]: [string, FieldSchema]) => [name, sample(name, schema, harness)] as const;
  const required = Object.fromEntries(bodyFields.filter(([, schema]) => schema.required === true).map(value));
  return [
    required,
    ...bodyFields.map((field) => ({ ...required, ...Object.fromEntries([value(field)]) })),
    Object.fromEntries(bodyFields.map(value)),
  ];
}

function capturesOf(
  template: string,
  declared: Readonly<Record<string, FieldSchema>>,
  harness: EngineHarness,
): Record<string, string> {
  const names = [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? '');
  return Object.fromEntries(
    names.flatMap((name) => {
      const schema = declared[name];
      return schema === undefined ? [] : [[name, String(sample(name, schema, harness))]];
    }),
  );
}

function fill(template: string, captures: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_whole, name: string) => captures[name] ?? '');
}
