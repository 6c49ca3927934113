import { loadRole, saveRole } from '../../../plugin/pachyderm/roles/role';
import { InMemoryStorage } from '../../../plugin/sdk/storage';

/* Roles are a tagged union in memory and keep the JSON every version of the engine stored. */

const BINDINGS =
  '[{"resource":{"type":"repo","name":"default/images"},"roles":["repoReader"]},' +
  '{"resource":{"type":"project","name":"default"},"roles":["projectViewer"]}]';

/** roles/<name> as the engine stored them before roles had kinds, byte for byte. */
const STORED: ReadonlyArray<[string, string]> = [
  ['subject', '{"version":1,"subject":"robot:ci","subject_template":"","ttl_seconds":3600,"max_ttl_seconds":0}'],
  [
    'template',
    '{"version":1,"subject":"","subject_template":"user:{{identity.entity.name}}",' +
      '"ttl_seconds":0,"max_ttl_seconds":7200}',
  ],
  [
    'robot',
    `{"version":1,"subject":"","subject_template":"","ttl_seconds":0,"max_ttl_seconds":0,"role_bindings":${BINDINGS}}`,
  ],
  [
    'robot',
    '{"version":1,"subject":"","subject_template":"","ttl_seconds":300,"max_ttl_seconds":0,' +
      `"role_bindings":${BINDINGS},"robot_name_template":"ci-{{random 8}}"}`,
  ],
  [
    'robot',
    '{"version":1,"subject":"","subject_template":"","ttl_seconds":0,"max_ttl_seconds":0,' +
      `"role_bindings":${BINDINGS},"robot_name_template":""}`,
  ],
];

describe('stored roles', () => {
  it.each(STORED)('reads a stored %s role and writes it back unchanged', async (kind, json) => {
    const storage = new InMemoryStorage();
    await storage.put({ key: 'roles/r', value: Buffer.from(json, 'utf8') });
    const role = await loadRole(storage, 'r');
    expect(role?.kind).toBe(kind);
    await saveRole(storage, 'r', role!);
    expect((await storage.get('roles/r'))?.value.toString('utf8')).toBe(json);
  });
});
