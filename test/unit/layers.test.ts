import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The layering of plugin/, read from the import graph: a layer may import only the layers below
 * it, and no module may reach itself through its imports. Type-only imports count: they tie the
 * layers together as much as value imports do, even though the compiler erases them.
 */

const ROOT = path.resolve(__dirname, '../../plugin');

/** Lowest first; files directly in plugin/ are the entry point, above everything. */
const LAYERS = ['grpc', 'goplugin', 'sdk', 'pachyderm'] as const;
const ENTRY_POINT_RANK = LAYERS.length;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const full = path.join(directory, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * Imports of a file that resolve to other files under plugin/ (packages and .proto files are not
 * part of the graph).
 */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const targets: string[] = [];
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), fileName);
    const resolved = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => existsSync(candidate));
    if (resolved !== undefined && resolved.startsWith(`${ROOT}${path.sep}`)) targets.push(resolved);
  }
  return targets;
}

function relative(file: string): string {
  return path.relative(ROOT, file).split(path.sep).join('/');
}

function rankOf(file: string): number {
  const parts = relative(file).split('/');
  if (parts.length === 1) return ENTRY_POINT_RANK;
  const rank = (LAYERS as readonly string[]).indexOf(parts[0] ?? '');
  if (rank < 0) throw new Error(`${relative(file)} is in no known layer; add its folder to LAYERS`);
  return rank;
}

/**
 * The engine's own groups, plugin/pachyderm/<group>/, and the groups each may import. The files
 * directly in plugin/pachyderm/ face Vault (the backend, one file per path, the secret) and may
 * import every group; no group imports them.
 */
const ENGINE = 'pachyderm';
const ENGINE_GROUPS: Readonly<Record<string, readonly string[]>> = {
  issuance: ['roles', 'mount', 'pachd'],
  'static-robots': ['issuance', 'roles', 'mount', 'pachd'],
  admin: ['mount', 'pachd'],
  roles: ['mount', 'pachd'],
  mount: ['pachd'],
  pachd: [],
};
/** The Vault-facing files directly in plugin/pachyderm/. */
const VAULT_FACING = '.';

function engineGroupOf(file: string): string | undefined {
  const parts = relative(file).split('/');
  if (parts[0] !== ENGINE) return undefined;
  if (parts.length === 2) return VAULT_FACING;
  const group = parts[1] ?? '';
  if (!(group in ENGINE_GROUPS)) throw new Error(`${relative(file)} is in no known group; add it to ENGINE_GROUPS`);
  return group;
}

/** Whether an import from one engine group to another follows the arrows. */
function engineImportAllowed(from: string, to: string): boolean {
  if (from === to || from === VAULT_FACING) return true;
  return ENGINE_GROUPS[from]?.includes(to) ?? false;
}

const graph = new Map<string, string[]>(sourceFiles(ROOT).map((file) => [file, localImports(file)]));

/** Cycles as chains of files, at least one for every tangle of modules: empty exactly when the graph has none. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'visiting');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      const seen = state.get(target);
      if (seen === 'visiting') found.push([...stack.slice(stack.indexOf(target)), target].map(relative));
      else if (seen === undefined) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('plugin/ layers', () => {
  it('finds the modules it checks', () => {
    for (const layer of LAYERS) {
      expect([...graph.keys()].some((file) => relative(file).startsWith(`${layer}/`))).toBe(true);
    }
  });

  it('imports only downwards: grpc < goplugin < sdk < pachyderm < the entry point', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      for (const target of targets) {
        if (rankOf(target) > rankOf(file)) upward.push(`${relative(file)} imports ${relative(target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("imports only downwards inside the engine: the Vault-facing files, then each group's arrows", () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = engineGroupOf(file);
      if (from === undefined) continue;
      for (const target of targets) {
        const to = engineGroupOf(target);
        if (to !== undefined && !engineImportAllowed(from, to))
          upward.push(`${relative(file)} imports ${relative(target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('finds every engine group', () => {
    for (const group of Object.keys(ENGINE_GROUPS)) {
      expect([...graph.keys()].some((file) => relative(file).startsWith(`${ENGINE}/${group}/`))).toBe(true);
    }
  });

  it('issues a token without importing admin/ or another Vault-facing file', () => {
    const start = path.join(ROOT, ENGINE, 'path-creds.ts');
    const reached = new Set<string>();
    const pending = [start];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      for (const target of graph.get(file) ?? []) {
        if (!reached.has(target)) {
          reached.add(target);
          pending.push(target);
        }
      }
    }
    const stray = [...reached].filter((file) => {
      const group = engineGroupOf(file);
      return group === 'admin' || group === VAULT_FACING;
    });
    expect(stray.map(relative)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(cycles().map((cycle) => cycle.join(' -> '))).toEqual([]);
  });
});
