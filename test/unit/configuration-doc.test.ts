// docs/configuration.md documents every key of the routing config schema, so the doc cannot fall behind the schema.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { routingConfigSchema } from '../../shared/config';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

/** Every key path of the schema as the doc writes it: `partners[].delivery.url`. */
function keyPaths(schema: JsonSchema, prefix = ''): string[] {
  if (schema.anyOf) return [...new Set(schema.anyOf.flatMap((s) => keyPaths(s, prefix)))];
  if (schema.type === 'array' && schema.items) return keyPaths(schema.items, `${prefix}[]`);
  return Object.entries(schema.properties ?? {}).flatMap(([key, child]) => {
    const here = prefix ? `${prefix}.${key}` : key;
    return [here, ...keyPaths(child, here)];
  });
}

test('every routing config key is in docs/configuration.md, and config/routing.yaml points there', () => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
  const paths = keyPaths(
    z.toJSONSchema(routingConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema,
  );
  expect(paths).toEqual(expect.arrayContaining(['partners[].delivery.url', 'sources[].notify.maxDuration']));
  expect(paths.filter((p) => !doc.includes(`\`${p}\``))).toEqual([]);
  const example = fs.readFileSync(path.join(__dirname, '..', '..', 'config', 'routing.yaml'), 'utf8');
  expect(example).toContain('docs/configuration.md');
});
