import { SerializationError } from '../errors.js';

/**
 * Converts anything thrown while encoding into a SerializationError: a getter that throws, a stack overflow on a
 * very deeply nested value, or a failure inside the underlying serializer.
 */
export function toSerializationError(error: unknown, codecName: string): SerializationError {
  if (error instanceof SerializationError) return error;
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return new SerializationError(`the value is nested too deeply for the ${codecName} codec`, [], { cause: error });
  }
  return new SerializationError(`the ${codecName} codec could not serialize the value: ${errorMessage(error)}`, [], { cause: error });
}

/** The message of anything thrown, without ever throwing itself (a thrown object may have a hostile toString). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return typeof error;
  }
}
