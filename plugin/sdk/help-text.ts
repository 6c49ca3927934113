/**
 * @file
 * The text `vault path-help` prints: for the mount, its help and every path's synopsis; for a
 * path, its pattern, description and parameters.
 */

import type { FieldSchemas } from './fields';
import type { PathDefinition } from './path';

/** The part of a backend's description the mount's help is made of. */
export interface HelpSource {
  help: string;
  paths: readonly PathDefinition[];
}

export function rootHelpText(definition: HelpSource): string {
  const lines = [definition.help.trim(), '', '## PATHS', ''];
  for (const path of definition.paths) {
    lines.push(`    ^${path.pattern}$`, `        ${path.helpSynopsis}`, '');
  }
  return lines.join('\n');
}

export function pathHelpText(definition: PathDefinition, fields: FieldSchemas): string {
  const lines = ['Request:        ' + definition.pattern, '', '## DESCRIPTION', ''];
  lines.push(definition.helpSynopsis, '');
  if (definition.helpDescription !== undefined) lines.push(definition.helpDescription.trim(), '');
  const names = Object.keys(fields).sort();
  if (names.length > 0) {
    lines.push('## PARAMETERS', '');
    for (const name of names) {
      const field = fields[name];
      if (field === undefined) continue;
      lines.push(`${name} (${field.type})`, '', `    ${field.description}`, '');
    }
  }
  return lines.join('\n');
}
