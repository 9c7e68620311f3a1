// The JSON Schemas live in the trainer package (one source of truth for both languages);
// esbuild bundles them into the extension, tests read the same files.
import Ajv, { type ValidateFunction } from 'ajv';
import runConfigSchema from '../../trainer/neftune_trainer/schemas/run-config.schema.json';
import eventsSchema from '../../trainer/neftune_trainer/schemas/events.schema.json';

export { runConfigSchema, eventsSchema };

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
