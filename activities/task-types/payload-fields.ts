/** Payload fields several task types share, with one wording for what they allow. */
import { z } from 'zod';

/** The longest `work_ms` a type may ask for: below the execution activity's 30 s timeout. */
export const MAX_WORK_MS = 20_000;

/** `value`: the private input the circuits prove the output from. */
export const valueField = () =>
  z
    .number({ invalid_type_error: 'must be a number', required_error: 'is required (a whole number)' })
    .int({ message: 'must be a whole number' })
    .min(0, { message: 'must be >= 0' })
    .max(Number.MAX_SAFE_INTEGER, { message: `must be <= ${Number.MAX_SAFE_INTEGER}` });

/** A whole number of milliseconds from 0 to `max` (`why` says where the bound comes from). */
export const millisecondsField = (max: number, why = '') =>
  z
    .number({ invalid_type_error: 'must be a number of milliseconds' })
    .int({ message: 'must be a whole number of milliseconds' })
    .min(0, { message: 'must be >= 0' })
    .max(max, { message: `must be <= ${max}${why ? ` (${why})` : ''}` });

/** `work_ms`: the time an agent's real work takes. */
export const workMsField = () => millisecondsField(MAX_WORK_MS, "the execution activity's timeout is 30 s").optional();
