// The JSON Schemas live in the trainer package (one source of truth for both languages);
// esbuild bundles them into the extension, tests read the same files.
import Ajv, { type ValidateFunction } from 'ajv';
import runConfigSchema from '../../trainer/neftune_trainer/schemas/run-config.schema.json';
import runConfigRules from '../../trainer/neftune_trainer/schemas/run-config.rules.json';
import eventsSchema from '../../trainer/neftune_trainer/schemas/events.schema.json';

// runConfigRules: what JSON Schema cannot say about a run config (paths that must exist, the
// default model, YAML limits); the trainer's config.py reads the same file.
export { runConfigSchema, runConfigRules, eventsSchema };

let ajv: Ajv | undefined;
function getAjv(): Ajv {
  // allErrors: report every problem of a config at once, as diagnostics.
  ajv ??= new Ajv({ allErrors: true, strict: false, useDefaults: false });
  return ajv;
}

let configValidator: ValidateFunction | undefined;
export function validateRunConfigValue(): ValidateFunction {
  configValidator ??= getAjv().compile(runConfigSchema);
  return configValidator;
}

let eventValidator: ValidateFunction | undefined;
export function validateEventValue(): ValidateFunction {
  eventValidator ??= getAjv().compile(eventsSchema);
  return eventValidator;
}

const byType = new Map<string, ValidateFunction>();
/**
 * The validator for one event type: the schema's base and that type's definition. Same
 * verdict as the whole schema, without trying every branch of its oneOf (2x faster on a
 * 100k-event file, which a reload reads in full).
 */
export function eventValidatorFor(type: string): ValidateFunction | undefined {
  const defs = (eventsSchema as { definitions: Record<string, unknown> }).definitions;
  if (type === 'base' || type === 'where' || !(type in defs)) return undefined;
  let v = byType.get(type);
  if (!v) {
    v = getAjv().compile({ definitions: defs, allOf: [{ $ref: '#/definitions/base' }, { $ref: `#/definitions/${type}` }] });
    byType.set(type, v);
  }
  return v;
}
