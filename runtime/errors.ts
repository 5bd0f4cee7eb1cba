/** Stable error codes of the runtime. Never renumber or reuse: operators and other services match on them. */
export const ErrorCodes = {
  NATS_SERVER_MISSING: 'NATS_SERVER_MISSING',
  NATS_SERVER_START: 'NATS_SERVER_START',
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** The per-action configuration (`journeys run --actions`) does not validate. */
  INVALID_ACTIONS_CONFIG: 'INVALID_ACTIONS_CONFIG',
  UNSAFE_CAS: 'UNSAFE_CAS',
  BAD_JSON: 'BAD_JSON',
  BAD_COMMAND: 'BAD_COMMAND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** Free JSON (`data`, `params`) nested too deep or with too many keys. */
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  UNKNOWN_JOURNEY: 'UNKNOWN_JOURNEY',
  UNKNOWN_EXECUTION: 'UNKNOWN_EXECUTION',
  DEFINITION_INVALID: 'DEFINITION_INVALID',
  VERSION_EXISTS: 'VERSION_EXISTS',
  CONFLICT: 'CONFLICT',
  ACTION_FAILED: 'ACTION_FAILED',
  ACTION_TIMEOUT: 'ACTION_TIMEOUT',
  NO_HANDLER: 'NO_HANDLER',
  DLQ_ENTRY_MISSING: 'DLQ_ENTRY_MISSING',
  /**
   * A stored dead-letter entry that is not one (not JSON, wrong shape, ids other than its subject's): never shown nor
   * replayed, listed apart, discarded like any other.
   */
  DLQ_ENTRY_MALFORMED: 'DLQ_ENTRY_MALFORMED',
  TIMEOUT: 'TIMEOUT',
  /** An action result that matched no attempt awaiting one (recorded on `<prefix>.rejects.result`). */
  RESULT_UNKNOWN_KEY: 'RESULT_UNKNOWN_KEY',
  RESULT_STALE_ATTEMPT: 'RESULT_STALE_ATTEMPT',
  RESULT_NOT_AWAITED: 'RESULT_NOT_AWAITED',
  /** A stored execution record that does not decode to the shape the executor relies on. */
  RECORD_CORRUPT: 'RECORD_CORRUPT',
  /** An event whose data would grow the execution's data past its bound (refused; the execution is unchanged). */
  DATA_TOO_LARGE: 'DATA_TOO_LARGE',
  /** A start over its supplier's rate limit for longer than the parking horizon: refused, not parked. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** Anything else, as answered on request subjects (the details go to the runtime's log only). */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class: a stable `code`, and whether retrying the same operation can help. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** An inbound message that fails validation: answered, recorded in the rejects stream, never retried. */
export class RejectedError extends RuntimeError {
  override name = 'RejectedError';
}

/** A failing action; `retryable: false` sends the step straight to the dead-letter queue. */
export class ActionError extends RuntimeError {
  override name = 'ActionError';
  constructor(message: string, options?: { cause?: unknown; retryable?: boolean; code?: ErrorCode }) {
    super(options?.code ?? 'ACTION_FAILED', message, { retryable: options?.retryable ?? true, cause: options?.cause });
  }
}

/** Message of any thrown value, on one line. */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}
