import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../runtime/logger.ts';

describe('logs', () => {
  it('logger - clients\' names, emails and phones are redacted wherever they sit', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('info', sink);
    const client = { name: 'Alex Morgan', email: 'alex@example.com', phone: '+44 7700 900123' };
    log.info({ cmd: { supplierId: 's1', clientId: 'c1', client } }, 'start');
    log.info({ invocation: { params: { to: 'x' }, client } }, 'action');
    log.info({ email: 'sam@example.com', executionId: 'ex_1' }, 'direct');
    const text = lines.join('');
    for (const secret of ['Alex Morgan', 'alex@example.com', '7700', 'sam@example.com']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(text).toContain('ex_1'); // ids stay: they are not personal data
    expect(JSON.parse(lines[0]!).cmd.clientId).toBe('c1');
  });
});
