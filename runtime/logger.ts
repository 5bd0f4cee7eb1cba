/**
 * Structured JSON logs (pino) with clients' personal data redacted (R28): names, emails and phones never reach a log line,
 * wherever they sit in a logged object (a start command, an action invocation, an error's details).
 */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths pino censors; `*` matches one level, so personal data is caught up to three levels deep. */
export const REDACTED_PATHS = [
  'client',
  '*.client',
  '*.*.client',
  'pii',
  '*.pii',
  '*.*.pii',
  'email',
  '*.email',
  '*.*.email',
  'phone',
  '*.phone',
  '*.*.phone',
];

export function createLogger(level = process.env['LOG_LEVEL'] ?? 'info', destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
