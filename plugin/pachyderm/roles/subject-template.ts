import { badRequest } from '../../sdk/errors';
import type { Entity } from '../../sdk/system-view';
import { checkSubjectForm } from './subjects';

/**
 * A role's subject made from the caller's Vault identity, so that one role gives each person
 * a token for their own pachd identity:
 *
 *   user:{{identity.entity.aliases.auth_oidc_1a2b3c.name}}    → user:alice@example.com
 *
 * Placeholders: identity.entity.id, identity.entity.name, identity.entity.metadata.KEY,
 * identity.entity.aliases.MOUNT_ACCESSOR.name, identity.entity.aliases.MOUNT_ACCESSOR.metadata.KEY.
 * The prefix must be written out literally, so identity data can never pick it.
 */
type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'entity-id' }
  | { kind: 'entity-name' }
  | { kind: 'entity-metadata'; key: string }
  | { kind: 'alias-name'; mountAccessor: string }
  | { kind: 'alias-metadata'; mountAccessor: string; key: string };

export class SubjectTemplate {
  private constructor(
    readonly source: string,
    private readonly segments: readonly Segment[],
  ) {}

  static parse(source: string): SubjectTemplate {
    const segments: Segment[] = [];
    let rest = source.trim();
    while (rest !== '') {
      const open = rest.indexOf('{{');
      if (open === -1) {
        segments.push(literal(rest));
        break;
      }
      if (open > 0) segments.push(literal(rest.slice(0, open)));
      const close = rest.indexOf('}}', open);
      if (close === -1) throw badRequest(`subject_template has an unclosed "{{" in ${JSON.stringify(source)}`);
      segments.push(placeholder(rest.slice(open + 2, close).trim(), source));
      rest = rest.slice(close + 2);
    }
    const first = segments[0];
    if (first === undefined || first.kind !== 'literal' || !/^[A-Za-z0-9_./-]+:/.test(first.text)) {
      throw badRequest(
        `subject_template must start with a literal prefix such as "user:" or "robot:", got ${JSON.stringify(source)}`,
      );
    }
    if (!segments.some((segment) => segment.kind !== 'literal')) {
      throw badRequest(
        `subject_template ${JSON.stringify(source)} has no {{identity...}} placeholder; use subject instead`,
      );
    }
    // The prefix alone must already be acceptable (not pach:, not group:, ...).
    checkSubjectForm(`${first.text}${first.text.endsWith(':') ? 'x' : ''}`);
    return new SubjectTemplate(source.trim(), segments);
  }

  /** The subject for a caller with this identity entity (undefined when the token has none). */
  render(entity: Entity | undefined): string {
    if (entity === undefined) {
      throw badRequest(
        `this role's subject_template ${JSON.stringify(this.source)} needs the caller's Vault identity, and the ` +
          'calling token has no identity entity (root tokens and tokens from token roles without an entity have none)',
      );
    }
    const parts = this.segments.map((segment) => {
      const value = fill(segment, entity);
      if (value === undefined || value === '') {
        throw badRequest(
          `cannot fill subject_template ${JSON.stringify(this.source)} for entity ${entity.name || entity.id}: ` +
            `${describeSegment(segment)} is missing or empty`,
        );
      }
      return value;
    });
    return checkSubjectForm(parts.join(''));
  }
}

function literal(text: string): Segment {
  return { kind: 'literal', text };
}

function placeholder(expression: string, source: string): Segment {
  const parts = expression.split('.');
  // Accessors and keys are names: an empty or spaced one could never match an alias or a key.
  if (parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part)) && parts[0] === 'identity' && parts[1] === 'entity') {
    const [, , field, ...rest] = parts;
    if (field === 'id' && rest.length === 0) return { kind: 'entity-id' };
    if (field === 'name' && rest.length === 0) return { kind: 'entity-name' };
    if (field === 'metadata' && rest.length === 1 && rest[0] !== '')
      return { kind: 'entity-metadata', key: rest[0] ?? '' };
    if (field === 'aliases' && rest.length === 2 && rest[1] === 'name') {
      return { kind: 'alias-name', mountAccessor: rest[0] ?? '' };
    }
    if (field === 'aliases' && rest.length === 3 && rest[1] === 'metadata') {
      return { kind: 'alias-metadata', mountAccessor: rest[0] ?? '', key: rest[2] ?? '' };
    }
  }
  throw badRequest(
    `subject_template ${JSON.stringify(source)} has an unknown placeholder {{${expression}}}; known: ` +
      '{{identity.entity.id}}, {{identity.entity.name}}, {{identity.entity.metadata.KEY}}, ' +
      '{{identity.entity.aliases.MOUNT_ACCESSOR.name}}, {{identity.entity.aliases.MOUNT_ACCESSOR.metadata.KEY}}',
  );
}

function fill(segment: Segment, entity: Entity): string | undefined {
  switch (segment.kind) {
    case 'literal':
      return segment.text;
    case 'entity-id':
      return entity.id;
    case 'entity-name':
      return entity.name;
    case 'entity-metadata':
      return ownValue(entity.metadata, segment.key);
    case 'alias-name':
      return entity.aliases.find((alias) => alias.mountAccessor === segment.mountAccessor)?.name;
    case 'alias-metadata': {
      const alias = entity.aliases.find((candidate) => candidate.mountAccessor === segment.mountAccessor);
      return alias === undefined ? undefined : ownValue(alias.metadata, segment.key);
    }
  }
}

/** A metadata value, never one an object inherits (a key named "constructor", say). */
function ownValue(metadata: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(metadata, key) ? metadata[key] : undefined;
}

function describeSegment(segment: Segment): string {
  switch (segment.kind) {
    case 'literal':
      return 'a literal';
    case 'entity-id':
      return 'the entity id';
    case 'entity-name':
      return 'the entity name';
    case 'entity-metadata':
      return `entity metadata "${segment.key}"`;
    case 'alias-name':
      return `the name of the entity's alias on auth mount ${segment.mountAccessor}`;
    case 'alias-metadata':
      return `metadata "${segment.key}" of the entity's alias on auth mount ${segment.mountAccessor}`;
  }
}
